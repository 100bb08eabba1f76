package no.ehr.bench.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;
import org.springframework.context.annotation.Import;

/**
 * The HAPI FHIR JPA server (R4) the FHIR benchmark (bench/fhir) compares the record with:
 * HAPI's own JPA configuration ({@link JpaR4Config}, {@link HapiJpaConfig}, batch2 on HAPI's
 * in-memory message channels), the few beans an application must give it
 * ({@link StorageConfig}) and its RestfulServer at /fhir ({@link FhirServlet}). Settings come
 * from the command line (bench/fhir/hapi_server.py).
 */
// Spring Boot's start-up of libraries HAPI brings for other uses is off: Flyway (HAPI's own
// migration tool; Hibernate creates the schema, as in HAPI's starter), the Elasticsearch client
// (full-text search is off) and Thymeleaf (no web pages here)
@SpringBootApplication(exclude = {FlywayAutoConfiguration.class,
		ElasticsearchRestClientAutoConfiguration.class, ThymeleafAutoConfiguration.class})
@Import({JpaR4Config.class, HapiJpaConfig.class, JpaBatch2Config.class, Batch2JobsConfig.class,
		ThreadPoolFactoryConfig.class, SubscriptionChannelConfig.class, StorageConfig.class,
		FhirServlet.class})
public class BenchHapiServer {

	public static void main(String[] args) {
		SpringApplication.run(BenchHapiServer.class, args);
	}
}
