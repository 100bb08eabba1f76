// Validates Strimzi and CloudNativePG objects with the validators @kubernetes-models generated
// from those projects' CRD schemas (installed by `make crd-validators` into
// .cache/crd-validators). Reads a JSON array of objects on stdin; writes one JSON line per
// object: {"kind", "name", "errors": [...]} (an empty list: valid).
import path from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const packages = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
for (const doc of JSON.parse(input)) {
  const [group, version] = doc.apiVersion.split("/");
  const name = doc.metadata?.name;
  if (!packages[group]) {
    console.log(JSON.stringify({ kind: doc.kind, name, errors: [`no validator for ${group}`] }));
    continue;
  }
  const file = path.join(modules, packages[group], group, version, `${doc.kind}.js`);
  let errors = [];
  try {
    const model = await import(pathToFileURL(file).href);
    new model[doc.kind](doc).validate();
  } catch (error) {
    errors = [String(error?.message ?? error)];
  }
  console.log(JSON.stringify({ kind: doc.kind, name, errors }));
}
