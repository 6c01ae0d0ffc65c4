/** @module `tessera client enroll` and `tessera client run`: the member side of the CLI. */
import { existsSync } from 'node:fs';
import { TesseraError } from '../core/errors.ts';
import type { FederationConfig } from '../core/federation.ts';
import { selectBackend } from '../clients/backend.ts';
import { loadDataset } from '../clients/dataset.ts';
import type { MemberIdentity } from '../clients/enrollment.ts';
import { enroll, loadIdentity, memberTransport, saveIdentity } from '../clients/enrollment.ts';
import { createModelSource } from '../clients/model-source.ts';
import { BudgetLedger, budgetPathFor } from '../clients/budget.ts';
import { loadMemberPolicy } from '../clients/policy.ts';
import type { MemberEvent } from '../clients/runtime.ts';
import { runMember } from '../clients/runtime.ts';
import { fileSecAggStore } from '../clients/secagg-runtime.ts';
import { tabularMember } from '../clients/tabular-member.ts';
import type { Args } from './args.ts';
import { bool, int, str } from './args.ts';
import { fromBase64 } from '../crypto/identity.ts';
import type { ArtifactStore } from '../core/artifact-store.ts';
import { openStore } from '../storage/open-store.ts';
import { signedReadUrl } from '../storage/signed-url.ts';
import { signedUrlOptionsFromEnv, storeOptionsFromEnv } from './stores.ts';

export async function clientEnroll(args: Args): Promise<void> {
  const identity = await enrollFromArgs(args);
  const out = str(args, 'out', { fallback: 'member.identity.json' })!;
  saveIdentity(out, identity);
  console.log(`enrolled as "${identity.name}" (member ${identity.memberId}); identity written to ${out} (mode 0600: it holds the member's secret key)`);
}

async function enrollFromArgs(args: Args): Promise<MemberIdentity> {
  return enroll({
    aggregatorUrl: str(args, 'url', { env: 'TESSERA_URL', required: true })!,
    federationId: str(args, 'federation', { required: true })!,
    token: str(args, 'invitation', { env: 'TESSERA_INVITATION', required: true })!,
  });
}

/**
 * Runs a member until the federation completes. With --identity FILE it uses (or, given
 * --invitation, creates) that identity; --events prints one JSON event per line for a parent
 * process (the `local` runner).
 */
export async function clientRun(args: Args): Promise<void> {
  const datasetPath = str(args, 'dataset', { required: true })!;
  if (!existsSync(datasetPath)) throw new TesseraError('BAD_DATASET', `--dataset: no file ${datasetPath}`, { field: 'dataset' });
  const seed = int(args, 'seed', undefined);
  const events = bool(args, 'events', false);
  const identityPath = str(args, 'identity');
  // The member's own policy; its privacy ledger lives beside the identity file.
  const policyPath = str(args, 'policy');
  const policy = policyPath ? loadMemberPolicy(policyPath) : undefined;
  if (policy?.maxEpsilon != null && !identityPath) throw new TesseraError('BAD_REQUEST', '--policy caps epsilon: it needs --identity FILE, beside which the privacy ledger is kept', { field: 'identity' });
  let identity: MemberIdentity;
  if (identityPath && existsSync(identityPath)) identity = loadIdentity(identityPath);
  else {
    identity = await enrollFromArgs(args);
    if (identityPath) saveIdentity(identityPath, identity);
  }
  // The split comes from the spec's split.seed (a fixed split, as FLamby's) unless --split-seed is given.
  const data = await loadDataset(datasetPath, { seed: int(args, 'split-seed', undefined) });
  const backend = await selectBackend();
  const say = (e: MemberEvent | { kind: 'ready'; backend: string; train: number; test: number; memberId: string }) => {
    if (events) process.stdout.write(JSON.stringify({ member: identity.name, ...e }) + '\n');
    else console.log(`[${identity.name}] ${describe(e)}`);
  };
  say({ kind: 'ready', backend, train: data.train.n, test: data.test.n, memberId: identity.memberId });
  const transport = memberTransport(identity);
  const { federation } = await transport.json<{ federation: { config: FederationConfig } }>('GET', `/v1/federations/${identity.federationId}`);
  const model = await tabularMember(data, federation.config.model, { seed });
  // The member's own cloud: models are read from its home store (other replicas, then the
  // aggregator, as fallbacks); with --delta-via-store its update goes there too, as a signed URL.
  const homeUrl = str(args, 'home-store', { env: 'TESSERA_HOME_STORE' });
  const replicaUrls = (str(args, 'replicas', { env: 'TESSERA_REPLICAS' }) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const storeOptions = storeOptionsFromEnv();
  const home: ArtifactStore | undefined = homeUrl ? openStore(homeUrl, storeOptions) : undefined;
  const replicas = replicaUrls.map((u) => openStore(u, storeOptions));
  const viaStore = bool(args, 'delta-via-store', process.env.TESSERA_DELTA_VIA_STORE === '1');
  if (viaStore && !home) throw new TesseraError('BAD_REQUEST', '--delta-via-store: needs --home-store (a gs:// or az:// store)', { field: 'delta-via-store' });
  const modelSource = createModelSource({ transport, federationId: identity.federationId, memberId: identity.memberId, secretKey: fromBase64(identity.secretKey) ?? undefined, home, replicas });
  const uploadVia = viaStore
    ? async (body: Uint8Array) => {
        const put = await home!.putContent(body);
        return { url: await signedReadUrl(homeUrl!, put.key, signedUrlOptionsFromEnv()) };
      }
    : undefined;
  try {
    await runMember({ transport, federationId: identity.federationId, memberId: identity.memberId, model, onEvent: say, pollMs: int(args, 'poll-ms', 200, 10, 60_000), modelSource, uploadVia, secaggStore: identityPath ? fileSecAggStore(`${identityPath}.secagg.json`) : undefined, policy, budget: identityPath ? BudgetLedger.open(budgetPathFor(identityPath), identity.memberId) : undefined });
  } finally {
    model.dispose();
    for (const s of [home, ...replicas]) await s?.close();
  }
}

function describe(e: MemberEvent | { kind: 'ready'; backend: string; train: number; test: number }): string {
  switch (e.kind) {
    case 'ready': return `TF.js backend ${e.backend}; ${e.train} train / ${e.test} test examples`;
    case 'waiting': return e.round === null ? 'waiting for the first round' : `waiting (round ${e.round}, stage ${e.stage ?? 'closed'})`;
    case 'training': return `round ${e.round}: training from model version ${e.modelVersion}`;
    case 'fetched': return `round ${e.round}: model ${e.modelVersion} from ${e.source ?? 'nowhere'}${e.attempts > 1 ? ` after ${e.attempts} attempts (${e.report.attempts.filter((a) => a.outcome !== 'ok').map((a) => `${a.source}: ${a.outcome}`).join('; ')}; reported)` : ''}`;
    case 'uploaded': return `round ${e.round}: update uploaded${e.via === 'url' ? ' through the home store (signed URL)' : ''} (${e.examples} examples, ${e.hash.slice(0, 12)}…)`;
    case 'upload-fallback': return `round ${e.round}: store upload failed (${e.reason}); sending over HTTP`;
    case 'evaluated': return `round ${e.round}: evaluated: accuracy ${(e.report.correct / Math.max(1, e.report.examples)).toFixed(3)} on ${e.report.examples} test examples`;
    case 'round-failed': return `round ${e.round} failed: ${e.reason}`;
    case 'secagg': return `round ${e.round}: secure aggregation: ${e.stage} sent`;
    case 'secagg-refused': return `round ${e.round}: secure aggregation: ${e.stage} refused: ${e.reason}`;
    case 'declined': return `round ${e.round}: declined under this member's policy: ${e.reason}`;
    case 'member-privacy-spent': return `round ${e.round}: distributed ${e.spend.mechanism} noise (sigma ${Math.sqrt(e.spend.variance).toExponential(2)} steps, sum over >= ${e.spend.members} members): member-level epsilon ${e.spend.epsilon.toFixed(3)} this round, ${e.spend.cumulativeEpsilon.toFixed(3)} in total (delta ${e.spend.delta})`;
    case 'privacy-spent': return `round ${e.round}: DP-SGD (noise ${e.spend.noiseMultiplier.toFixed(3)}, clip ${e.spend.clipNorm}, rate ${e.spend.sampleRate.toFixed(4)}): epsilon ${e.spend.epsilon.toFixed(3)} this round, ${e.spend.cumulativeEpsilon.toFixed(3)} in total (delta ${e.spend.delta})`;
    case 'done': return `federation complete after ${e.rounds} rounds`;
    default: return JSON.stringify(e);
  }
}

/** `tessera client budget --identity FILE [--delta D] [--json]`: the member's own privacy account, from its ledger beside the identity. */
export async function clientBudget(args: Args): Promise<void> {
  const identityPath = str(args, 'identity', { required: true })!;
  const identity = loadIdentity(identityPath);
  const file = budgetPathFor(identityPath);
  const ledger = BudgetLedger.open(existsSync(file) ? file : null, identity.memberId);
  const account = ledger.snapshot();
  const deltaArg = str(args, 'delta');
  const delta = deltaArg === undefined ? null : Number(deltaArg);
  if (delta !== null && !(delta > 0 && delta < 1)) throw new TesseraError('BAD_REQUEST', '--delta: expected a number in (0, 1)', { field: 'delta' });
  const rows = Object.entries(account.federations).map(([federationId, a]) => {
    const at = delta ?? a.rounds.at(-1)?.delta ?? a.memberRounds?.at(-1)?.delta ?? 1e-5;
    return { federationId, delta: at, epsilon: ledger.spent(federationId, at), rounds: a.rounds, memberEpsilon: ledger.memberSpent(federationId, at), memberRounds: a.memberRounds ?? [], declines: a.declines };
  });
  if (bool(args, 'json', false)) {
    console.log(JSON.stringify({ memberId: identity.memberId, ledger: existsSync(file) ? file : null, federations: rows }, null, 2));
    return;
  }
  console.log(`member ${identity.name} (${identity.memberId}); ledger ${existsSync(file) ? file : '(none yet)'}`);
  if (rows.length === 0) console.log('  no privacy spent yet');
  for (const r of rows) {
    console.log(`  federation ${r.federationId}: record-level epsilon ${r.epsilon.toFixed(3)} at delta ${r.delta} over ${r.rounds.length} rounds; ${r.declines.length} declined`);
    for (const x of r.rounds) console.log(`    round ${x.round}  ${new Date(x.at).toISOString()}  epsilon ${x.epsilon.toFixed(3)} (alone, delta ${x.delta})  noise ${x.noiseMultiplier.toFixed(3)}  clip ${x.clipNorm}  rate ${x.sampleRate.toFixed(4)}  steps ${x.steps}`);
    if (r.memberRounds.length > 0) console.log(`    member-level (distributed DP): epsilon ${r.memberEpsilon.toFixed(3)} at delta ${r.delta} over ${r.memberRounds.length} rounds`);
    for (const x of r.memberRounds) console.log(`    round ${x.round}  ${new Date(x.at).toISOString()}  member-level epsilon ${x.epsilon.toFixed(3)} (alone, delta ${x.delta})  ${x.mechanism} sigma ${Math.sqrt(x.variance).toExponential(2)} steps  sum over >= ${x.members} members`);
    for (const x of r.declines) console.log(`    round ${x.round}  ${new Date(x.at).toISOString()}  declined: ${x.reason}`);
  }
}
