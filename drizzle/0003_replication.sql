CREATE TABLE "content_keys" (
	"federation_id" text NOT NULL,
	"key_id" text NOT NULL,
	"wrapped" text NOT NULL,
	"created_at" bigint NOT NULL,
	"retired_at" bigint
);
--> statement-breakpoint
CREATE TABLE "model_artifacts" (
	"federation_id" text NOT NULL,
	"version" integer NOT NULL,
	"key_id" text NOT NULL,
	"sealed_hash" text NOT NULL,
	"sealed_size" integer NOT NULL,
	"body" "bytea" NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_replicas" (
	"id" serial PRIMARY KEY NOT NULL,
	"federation_id" text NOT NULL,
	"version" integer NOT NULL,
	"store" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"updated_at" bigint NOT NULL,
	"published_at" bigint
);
--> statement-breakpoint
ALTER TABLE "content_keys" ADD CONSTRAINT "content_keys_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_replicas" ADD CONSTRAINT "model_replicas_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "content_keys_pk" ON "content_keys" USING btree ("federation_id","key_id");--> statement-breakpoint
CREATE UNIQUE INDEX "model_artifacts_pk" ON "model_artifacts" USING btree ("federation_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "model_replicas_slot" ON "model_replicas" USING btree ("federation_id","version","store");--> statement-breakpoint
CREATE INDEX "model_replicas_status" ON "model_replicas" USING btree ("status");