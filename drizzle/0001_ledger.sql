CREATE TABLE "ledger_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "seq" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "prev_hash" text NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "hash" text NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "signature" text NOT NULL;--> statement-breakpoint
CREATE INDEX "audit_events_federation_kind" ON "audit_events" USING btree ("federation_id","kind");