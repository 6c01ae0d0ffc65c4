-- Custom SQL migration file, put your code below! --
-- The ledger head row every append locks: seq 0, the genesis hash (64 zeros).
INSERT INTO "ledger_head" ("id", "seq", "hash") VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000') ON CONFLICT ("id") DO NOTHING;
