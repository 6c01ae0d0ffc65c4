CREATE TABLE "credentials" (
	"id" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"label" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" bigint NOT NULL,
	"revoked_at" bigint,
	CONSTRAINT "credentials_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "federations" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"config" jsonb NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invitations" (
	"id" text PRIMARY KEY NOT NULL,
	"federation_id" text NOT NULL,
	"member_name" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"used_at" bigint,
	"used_by" text
);
--> statement-breakpoint
CREATE TABLE "members" (
	"id" text PRIMARY KEY NOT NULL,
	"federation_id" text NOT NULL,
	"name" text NOT NULL,
	"public_key" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"enrolled_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "request_nonces" (
	"member_id" text NOT NULL,
	"nonce" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "contributions" (
	"id" serial PRIMARY KEY NOT NULL,
	"round_id" integer NOT NULL,
	"member_id" text NOT NULL,
	"stage" text NOT NULL,
	"hash" text NOT NULL,
	"size" integer NOT NULL,
	"weight" integer NOT NULL,
	"body" "bytea" NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_versions" (
	"federation_id" text NOT NULL,
	"version" integer NOT NULL,
	"hash" text NOT NULL,
	"parent_hash" text,
	"round" integer,
	"body" "bytea" NOT NULL,
	"strategy_state" jsonb,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "round_members" (
	"round_id" integer NOT NULL,
	"member_id" text NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"evaluation" jsonb,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rounds" (
	"id" serial PRIMARY KEY NOT NULL,
	"federation_id" text NOT NULL,
	"number" integer NOT NULL,
	"status" text NOT NULL,
	"stage" text,
	"stage_deadline" bigint,
	"base_version" integer NOT NULL,
	"committed_version" integer,
	"failure_reason" text,
	"metrics" jsonb,
	"opened_at" bigint NOT NULL,
	"closed_at" bigint
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"time" bigint NOT NULL,
	"kind" text NOT NULL,
	"actor" text NOT NULL,
	"federation_id" text,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "invitations" ADD CONSTRAINT "invitations_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "contributions" ADD CONSTRAINT "contributions_round_id_rounds_id_fk" FOREIGN KEY ("round_id") REFERENCES "public"."rounds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "contributions" ADD CONSTRAINT "contributions_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "round_members" ADD CONSTRAINT "round_members_round_id_rounds_id_fk" FOREIGN KEY ("round_id") REFERENCES "public"."rounds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "round_members" ADD CONSTRAINT "round_members_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rounds" ADD CONSTRAINT "rounds_federation_id_federations_id_fk" FOREIGN KEY ("federation_id") REFERENCES "public"."federations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "invitations_token_hash" ON "invitations" USING btree ("token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "members_federation_name" ON "members" USING btree ("federation_id","name");--> statement-breakpoint
CREATE INDEX "members_federation" ON "members" USING btree ("federation_id");--> statement-breakpoint
CREATE UNIQUE INDEX "request_nonces_pk" ON "request_nonces" USING btree ("member_id","nonce");--> statement-breakpoint
CREATE INDEX "request_nonces_expiry" ON "request_nonces" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "contributions_slot" ON "contributions" USING btree ("round_id","member_id","stage");--> statement-breakpoint
CREATE INDEX "contributions_round" ON "contributions" USING btree ("round_id");--> statement-breakpoint
CREATE UNIQUE INDEX "model_versions_pk" ON "model_versions" USING btree ("federation_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "round_members_pk" ON "round_members" USING btree ("round_id","member_id");--> statement-breakpoint
CREATE UNIQUE INDEX "rounds_federation_number" ON "rounds" USING btree ("federation_id","number");