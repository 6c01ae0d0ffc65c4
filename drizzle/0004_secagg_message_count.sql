ALTER TABLE "rounds" ADD COLUMN "secagg_messages" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Rounds opened before this column existed: count what they already store.
UPDATE "rounds" SET "secagg_messages" = (SELECT count(*) FROM "contributions" c WHERE c."round_id" = "rounds"."id" AND c."stage" IN ('advertise_keys', 'share_keys', 'masked_input', 'consistency', 'unmask'));
