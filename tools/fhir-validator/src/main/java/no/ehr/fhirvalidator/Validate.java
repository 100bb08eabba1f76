package no.ehr.fhirvalidator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.NpmPackageValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeSystem;

/**
 * Validates every *.json FHIR R4 resource in a directory with HAPI's instance validator, offline:
 * the R4 core, the NPM packages named (found on the classpath), and the CodeSystem resources
 * among those validated (so our own codes are checked against them). No terminology server: a
 * code of a system it does not know is a warning.
 *
 * <p>Usage: {@code Validate <directory> [package.tgz ...]}; prints one JSON report on stdout:
 * {@code {"errors": n, "warnings": n, "resources": [{"file", "issues": [{"severity",
 * "location", "message"}]}]}}.
 */
public final class Validate {
  private Validate() {}

  public static void main(String[] args) throws IOException {
    if (args.length < 1) {
      System.err.println("usage: Validate <directory of JSON resources> [package.tgz ...]");
      System.exit(2);
    }
    FhirContext ctx = FhirContext.forR4();
    List<Path> files;
    try (Stream<Path> listed = Files.list(Path.of(args[0]))) {
      files = listed.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    List<String> bodies = new ArrayList<>();
    PrePopulatedValidationSupport ours = new PrePopulatedValidationSupport(ctx);
    for (Path file : files) {
      String body = Files.readString(file, StandardCharsets.UTF_8);
      bodies.add(body);
      if (body.contains("CodeSystem")) {
        IBaseResource parsed = ctx.newJsonParser().parseResource(body);
        if (parsed instanceof CodeSystem) {
          ours.addCodeSystem(parsed);
        } else if (parsed instanceof Bundle bundle) {
          for (Bundle.BundleEntryComponent e : bundle.getEntry()) {
            if (e.getResource() instanceof CodeSystem cs) {
              ours.addCodeSystem(cs);
            }
          }
        }
      }
    }
    NpmPackageValidationSupport packages = new NpmPackageValidationSupport(ctx);
    for (int i = 1; i < args.length; i++) {
      packages.loadPackageFromClasspath("classpath:" + args[i]);
    }
    UnknownCodeSystemWarningValidationSupport unknown =
        new UnknownCodeSystemWarningValidationSupport(ctx);
    unknown.setNonExistentCodeSystemSeverity(
        ca.uhn.fhir.context.support.IValidationSupport.IssueSeverity.WARNING);
    ValidationSupportChain chain = new ValidationSupportChain(
        new DefaultProfileValidationSupport(ctx), packages, ours,
        new CommonCodeSystemsTerminologyService(ctx),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx), unknown);
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    module.setAnyExtensionsAllowed(true);
    FhirValidator validator = ctx.newValidator().registerValidatorModule(module);

    int errors = 0;
    int warnings = 0;
    StringBuilder out = new StringBuilder("{\"resources\": [");
    for (int i = 0; i < files.size(); i++) {
      ValidationResult result = validator.validateWithResult(bodies.get(i));
      out.append(i == 0 ? "" : ",").append("\n {\"file\": ")
          .append(quote(files.get(i).getFileName().toString())).append(", \"issues\": [");
      boolean first = true;
      for (SingleValidationMessage m : result.getMessages()) {
        String severity = m.getSeverity().getCode();
        if (severity.equals("error") || severity.equals("fatal")) {
          errors++;
        } else if (severity.equals("warning")) {
          warnings++;
        }
        out.append(first ? "" : ", ").append("{\"severity\": ").append(quote(severity))
            .append(", \"location\": ").append(quote(String.valueOf(m.getLocationString())))
            .append(", \"message\": ").append(quote(m.getMessage())).append("}");
        first = false;
      }
      out.append("]}");
    }
    out.append("\n], \"errors\": ").append(errors).append(", \"warnings\": ").append(warnings)
        .append("}");
    System.out.println(out);
  }

  private static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
