/**
 * @module Secure-aggregation benchmark: per-member client time, the aggregator's unmask time,
 * bytes sent per member, and a plaintext weighted sum of the same vectors, for n members,
 * m parameters and a fraction of members dropping after share_keys (the costliest case: their
 * pairwise masks must be reconstructed and removed).
 *
 *   npx tsx bench/secagg.ts [--quick] [--json FILE] [--in-thread] [--only NxMxD[,...]] [--repeat R] [--keystream]
 *
 * --only keeps the listed rows (members x params x dropout fraction, e.g. 500x100000x0.3).
 * --repeat R times each row's unmask and plaintext sum R times (the unmask restored from the same
 * state each time) and reports the medians. --keystream first measures, in this process, one core's
 * keystream rate: OpenSSL's own (`openssl speed`, if on PATH), Node's chacha20 cipher as
 * crypto/prg.ts drives it, and that plus the SIMD additions (one unmask expansion).
 *
 * Unmask time is `await server.closeAsync()`: mask expansions on the shared worker pool (one
 * worker per core; spawned once, before the first timed row, as in a long-running aggregator).
 * With --in-thread each row also restores the same state, times the
 * single-threaded `close()` and checks that both paths give the same bytes; it runs second, on
 * memory the first run already faulted in, so the comparison favours it. Unmask CPU is the
 * process's CPU time over all threads during closeAsync (less sensitive to other load).
 *
 * Method. Per n, the key stages (advertise_keys, share_keys) run once for all n real clients and
 * both halves are snapshotted; each (m, dropout) row restores from there. Client time is the
 * sum of all five stages for 3 sampled members (the last three, so the JIT is warm; mean), each
 * member doing the same work. When
 * n * m <= 10^8 every member runs the real client and the result is checked against the
 * plaintext sum; above that, non-sampled members send a synthesized vector (same size, so the
 * server's work is identical) and their consistency/unmask messages are built from their real
 * client state, and the sum is not checked. The plaintext sum cycles over 8 distinct delta
 * vectors (so memory stays bounded) and does the same n x m multiply-adds.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { availableParallelism, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { contentHash } from '../core/hash.ts';
import { createRng, shuffle } from '../core/random.ts';
import type { ConsistencyMessage, MaskedInputMessage, MaskedInputRequest, SecAggMessage, UnmaskMessage } from '../core/secagg-wire.ts';
import { SECAGG_PROTOCOL, SECAGG_EXTRA_WORDS } from '../core/secagg-wire.ts';
import type { IdentityKeyPair } from '../crypto/identity.ts';
import { generateIdentity, toBase64 } from '../crypto/identity.ts';
import type { ClientSnapshot, MemberUpdate } from '../crypto/secagg-client.ts';
import { SecAggClient } from '../crypto/secagg-client.ts';
import { createRoundConfig } from '../crypto/secagg-config.ts';
import { signMessage, survivorSetHash } from '../crypto/secagg-messages.ts';
import type { ServerSnapshot } from '../crypto/secagg-server.ts';
import { SecAggServer } from '../crypto/secagg-server.ts';
import { plaintextWeightedSum } from '../crypto/secagg-local.ts';
import { forEachMaskChunk } from '../crypto/prg.ts';
import { sharedUnmaskPool } from '../crypto/unmask-pool.ts';
import { SimdAccumulator, simdModule } from '../crypto/unmask-simd.ts';

interface Row { members: number; params: number; dropout: number; clientMs: number; serverMs: number; serverCpuMs: number; inThreadMs: number | null; plaintextMs: number; bytesPerMember: number; k: number; t: number; checked: string }

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonIndex = args.indexOf('--json');
const jsonFile = jsonIndex >= 0 ? args[jsonIndex + 1] : null;
const compareInThread = args.includes('--in-thread');
const keystream = args.includes('--keystream');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1].split(',').map((spec) => spec.split('x').map(Number)) : null;
if (only?.some((r) => r.length !== 3 || r.some((x) => !Number.isFinite(x)))) throw new Error('--only: expected MEMBERSxPARAMSxDROPOUT[,...], e.g. 500x100000x0.3');
const repeatIndex = args.indexOf('--repeat');
const REPEAT = repeatIndex >= 0 ? Math.max(1, Number(args[repeatIndex + 1])) : 1;
const wanted = (n: number, m?: number, d?: number): boolean =>
  !only || only.some(([a, b, c]) => a === n && (m === undefined || b === m) && (d === undefined || c === d));
const MEMBERS = (quick ? [100, 500] : [100, 500, 1000]).filter((n) => wanted(n));
const PARAMS = quick ? [100_000] : [100_000, 1_000_000];
const DROPOUTS = [0, 0.1, 0.3];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SAMPLE = 3;
const FULL_LIMIT = 1e8;

const now = (): number => performance.now();
const jsonBytes = (m: SecAggMessage): number => Buffer.byteLength(JSON.stringify({ ...m, vector: undefined }));

function deltaPool(m: number): Float32Array[] {
  const rng = createRng(m);
  return Array.from({ length: 8 }, () => Float32Array.from({ length: m }, () => rng.normal() * 0.3));
}

function plaintextSum(vectors: Float32Array[], weights: number[], m: number): number {
  const start = now();
  const acc = new Float64Array(m);
  for (let u = 0; u < weights.length; u++) {
    const v = vectors[u % vectors.length];
    const w = weights[u];
    for (let i = 0; i < m; i++) acc[i] += w * v[i];
  }
  return now() - start;
}

async function benchMembers(n: number, rows: Row[]): Promise<void> {
  const ids = Array.from({ length: n }, (_, i) => `m${String(i).padStart(4, '0')}`);
  const identities = new Map<string, IdentityKeyPair>(ids.map((id) => [id, generateIdentity()]));
  const members = ids.map((id) => ({ id, identityKey: toBase64(identities.get(id)!.publicKey) }));
  for (const m of PARAMS.filter((p) => wanted(n, p))) {
    const config = createRoundConfig({ federationId: 'bench', round: 1, members, params: m, clip: 1, maxWeight: 1000 });
    // Key stages once per (n, m): the config (hence every key binding) depends on m.
    const keyStart = now();
    const clients = new Map(ids.map((id) => [id, new SecAggClient({ config, memberId: id, identity: identities.get(id)! })]));
    const server = new SecAggServer(config);
    const clientMs = new Map<string, number>();
    // Sample the last members: they run after JIT warm-up, like the steady state of a real member.
    const sample = ids.slice(-SAMPLE);
    const bytes = new Map<string, number>();
    const timed = <T>(id: string, f: () => T): T => {
      const s = now();
      const r = f();
      clientMs.set(id, (clientMs.get(id) ?? 0) + now() - s);
      return r;
    };
    for (const id of ids) {
      const msg = timed(id, () => clients.get(id)!.advertiseKeys());
      bytes.set(id, jsonBytes(msg));
      server.receive(msg);
    }
    server.close();
    for (const id of ids) {
      const request = server.requestFor(id);
      if (request?.stage !== 'share_keys') throw new Error('expected share_keys');
      const msg = timed(id, () => clients.get(id)!.shareKeys(request));
      bytes.set(id, bytes.get(id)! + jsonBytes(msg));
      server.receive(msg);
    }
    server.close();
    const serverAfterKeys: ServerSnapshot = server.snapshot();
    const clientsAfterKeys = new Map<string, ClientSnapshot>(ids.map((id) => [id, clients.get(id)!.snapshot()]));
    const keyMs = new Map(clientMs);
    console.error(`n=${n} m=${m}: key stages ${((now() - keyStart) / 1000).toFixed(1)} s (k=${config.neighbours}, t=${config.threshold})`);

    const pool = deltaPool(m);
    const rng = createRng(n);
    const updates = new Map<string, MemberUpdate>(ids.map((id, i) => [id, { delta: pool[i % pool.length], weight: 1 + rng.int(1200) }]));
    const full = n * m <= FULL_LIMIT;
    const synthetic = new Uint8Array(randomBytes((m + SECAGG_EXTRA_WORDS) * 4));
    const syntheticHash = contentHash(synthetic);

    for (const dropout of DROPOUTS.filter((d) => wanted(n, m, d))) {
      // A random drop can leave some member with fewer than t live holders; the round then fails
      // (correctly). Redraw the dropped set up to 4 times so the row still times a completed unmask.
      let attempt = 0;
      let failures = 0;
      for (;;) {
        const srv = SecAggServer.restore(serverAfterKeys);
        const cl = new Map(ids.map((id) => [id, SecAggClient.restore(clientsAfterKeys.get(id)!, identities.get(id)!)]));
        const perMember = new Map(keyMs);
        const time = <T>(id: string, f: () => T): T => {
          const s = now();
          const r = f();
          perMember.set(id, perMember.get(id)! + now() - s);
          return r;
        };
        const dropped = new Set(shuffle(ids.slice(0, -SAMPLE), createRng(`drop-${n}-${dropout}-${attempt}`)).slice(0, Math.round(n * dropout)));
        const live = ids.filter((id) => !dropped.has(id));
        const sent = new Map(bytes);
        const real = new Set(full ? live : sample);
        for (const id of live) {
          let msg: MaskedInputMessage;
          if (real.has(id)) {
            const request = srv.requestFor(id);
            if (request?.stage !== 'masked_input') throw new Error('expected masked_input');
            msg = time(id, () => cl.get(id)!.maskedInput(request, updates.get(id)!));
          } else {
            cl.get(id)!.acceptShares(srv.requestFor(id) as MaskedInputRequest);
            msg = signMessage<MaskedInputMessage>({ protocol: SECAGG_PROTOCOL, federationId: 'bench', round: 1, stage: 'masked_input', memberId: id, length: m + SECAGG_EXTRA_WORDS, vectorHash: syntheticHash, vector: synthetic }, identities.get(id)!.secretKey);
          }
          sent.set(id, sent.get(id)! + jsonBytes(msg) + msg.vector.length);
          srv.receive(msg);
        }
        srv.close();
        for (const id of live) {
          const request = srv.requestFor(id);
          if (request?.stage !== 'consistency') throw new Error('expected consistency');
          const msg = real.has(id)
            ? time(id, () => cl.get(id)!.consistency(request))
            : signMessage<ConsistencyMessage>({ protocol: SECAGG_PROTOCOL, federationId: 'bench', round: 1, stage: 'consistency', memberId: id, survivorsHash: survivorSetHash(request.survivors) }, identities.get(id)!.secretKey);
          sent.set(id, sent.get(id)! + jsonBytes(msg));
          srv.receive(msg);
        }
        srv.close();
        for (const id of live) {
          const request = srv.requestFor(id);
          if (request?.stage !== 'unmask') throw new Error('expected unmask');
          let msg: UnmaskMessage;
          if (real.has(id)) {
            msg = time(id, () => cl.get(id)!.unmask(request));
          } else {
            // The same shares the client would reveal, read from its real state.
            const survivors = new Set(request.survivors);
            const shares = cl.get(id)!.snapshot().held;
            msg = signMessage<UnmaskMessage>({
              protocol: SECAGG_PROTOCOL, federationId: 'bench', round: 1, stage: 'unmask', memberId: id,
              shares: [
                ...Object.keys(shares).sort().filter((of) => survivors.has(of)).map((of) => ({ of, kind: 'self_mask' as const, share: shares[of][1] })),
                ...Object.keys(shares).sort().filter((of) => request.dropped.includes(of)).map((of) => ({ of, kind: 'mask_key' as const, share: shares[of][0] })),
              ],
            }, identities.get(id)!.secretKey);
          }
          sent.set(id, sent.get(id)! + jsonBytes(msg));
          srv.receive(msg);
        }
        const beforeUnmask = compareInThread || REPEAT > 1 ? srv.snapshot() : null;
        const wall: number[] = [];
        const cpus: number[] = [];
        const gcs: number[] = [];
        // The server's private count of mask expansions, read to report the keystream volume.
        const expansions = (srv as unknown as { unmaskJobCount(): number }).unmaskJobCount();
        for (let r = 0; r < REPEAT; r++) {
          const target = r === 0 ? srv : SecAggServer.restore(beforeUnmask!);
          const unmaskStart = now();
          const cpuStart = process.cpuUsage();
          await target.closeAsync();
          const unmaskEnd = now();
          wall.push(unmaskEnd - unmaskStart);
          // CPU of every thread of the process: less sensitive than wall time to other load on the machine.
          const cpu = process.cpuUsage(cpuStart);
          cpus.push((cpu.user + cpu.system) / 1000);
          if (srv.result()?.status === 'failed') break; // a failed draw is redrawn below, not repeated
          // GC entries arrive asynchronously: let them in before summing the main thread's pauses.
          await new Promise((resolve) => setTimeout(resolve, 0));
          gcs.push(gcPauses.filter((e) => e.startTime >= unmaskStart && e.startTime < unmaskEnd).reduce((a, e) => a + e.duration, 0));
        }
        console.error(`  ${expansions} keystreams of ${m + SECAGG_EXTRA_WORDS} words (${(expansions * (m + SECAGG_EXTRA_WORDS) * 4 / 1e9).toFixed(2)} GB): unmask wall ms ${wall.map((x) => x.toFixed(0)).join(' ')}; CPU ms ${cpus.map((x) => x.toFixed(0)).join(' ')}; main-thread GC ms ${gcs.map((x) => x.toFixed(0)).join(' ')}`);
        const serverMs = median(wall);
        const serverCpuMs = median(cpus);
        const result = srv.result()!;
        let inThreadMs: number | null = null;
        let sameBytes = true;
        if (compareInThread && beforeUnmask) {
          const single = SecAggServer.restore(beforeUnmask);
          const start = now();
          single.close();
          inThreadMs = now() - start;
          sameBytes = JSON.stringify(single.snapshot().result) === JSON.stringify(srv.snapshot().result);
        }
        let checked = 'synthetic vectors: not checked';
        if (result.status === 'failed') {
          failures++;
          console.error(`  dropout ${dropout * 100}% draw ${attempt}: round failed (${result.reason.slice(0, 120)}...)`);
          if (++attempt < 5) continue;
          checked = `FAILED: ${result.reason}`;
        }
        else if (full) {
          const ref = plaintextWeightedSum(config, live.map((id) => updates.get(id)!));
          let worst = 0;
          for (let i = 0; i < m; i++) worst = Math.max(worst, Math.abs(result.weightedSum[i] - ref.weightedSum[i]));
          checked = worst <= result.errorBound * (1 + 1e-9) && result.totalWeight === ref.totalWeight ? 'matches plaintext' : `MISMATCH ${worst}`;
        }
        if (compareInThread) checked += sameBytes ? '; pool = in-thread bytes' : '; POOL AND IN-THREAD DIFFER';
        const weights = live.map((id) => Math.min(updates.get(id)!.weight, 1000));
        const plaintextRuns = Array.from({ length: REPEAT }, () => plaintextSum(pool, weights, m));
        if (REPEAT > 1) console.error(`  plaintext runs (ms): ${plaintextRuns.map((x) => x.toFixed(0)).join(' ')}`);
        const plaintextMs = median(plaintextRuns);
        const clientTimes = sample.map((id) => perMember.get(id)!);
        const row: Row = {
          members: n, params: m, dropout,
          clientMs: round(clientTimes.reduce((a, b) => a + b, 0) / clientTimes.length),
          serverMs: round(serverMs),
          serverCpuMs: round(serverCpuMs),
          inThreadMs: inThreadMs === null ? null : round(inThreadMs),
          plaintextMs: round(plaintextMs),
          bytesPerMember: Math.round(sample.reduce((a, id) => a + sent.get(id)!, 0) / sample.length),
          k: config.neighbours, t: config.threshold, checked: failures > 0 ? `${checked} (after ${failures} failed draw${failures > 1 ? 's' : ''})` : checked,
        };
        rows.push(row);
        console.error(`  dropout ${dropout * 100}%: client ${row.clientMs} ms, unmask ${row.serverMs} ms (CPU ${row.serverCpuMs} ms)${inThreadMs === null ? '' : ` (in-thread ${row.inThreadMs} ms)`}, plaintext ${row.plaintextMs} ms, ${row.bytesPerMember} B/member (${row.checked})`);
        break;
      }
    }
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;

/**
 * One core's keystream rates in GB/s (medians of 5), printed to stderr: the ceiling for the unmask.
 * Per CPU second, not wall second, as `openssl speed` reports (its user time), so other load on
 * the machine shifts them less.
 */
function keystreamRates(): void {
  const words = 100_004;
  const seeds = Array.from({ length: 100 }, () => new Uint8Array(randomBytes(32)));
  const rate = (f: (seed: Uint8Array) => void): string => {
    const runs = Array.from({ length: 5 }, () => {
      const start = process.cpuUsage();
      for (const seed of seeds) f(seed);
      const cpu = process.cpuUsage(start);
      return (seeds.length * words * 4) / ((cpu.user + cpu.system) * 1e3);
    });
    return median(runs).toFixed(2);
  };
  let openssl = 'openssl not on PATH';
  try {
    // "chacha20  <16 B> ... <65536 B>" in 1000s of bytes per second.
    const out = execFileSync('openssl', ['speed', '-evp', 'chacha20', '-bytes', '65536', '-seconds', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const last = out.trim().split('\n').at(-1)!.trim().split(/\s+/).at(-1)!;
    openssl = `${(Number.parseFloat(last) / 1e6).toFixed(2)} GB/s (openssl speed, 64 KiB blocks)`;
  } catch { /* no openssl binary: Node's figures only */ }
  const nodeOnly = rate((seed) => forEachMaskChunk(seed, words, () => undefined));
  const sum = simdModule ? new SimdAccumulator(simdModule, words) : null;
  const pipeline = sum ? rate((seed) => sum.applyPrg(seed, 1)) : 'no WebAssembly SIMD';
  console.error(`keystream, one core: OpenSSL ${openssl}; Node chacha20 (prg.ts chunks) ${nodeOnly} GB/s; with the SIMD additions ${pipeline} GB/s`);
}

/** The main thread's GC pauses (PerformanceObserver), to attribute unmask time. */
const gcPauses: { startTime: number; duration: number }[] = [];
const gcObserver = new PerformanceObserver((list) => { gcPauses.push(...list.getEntries()); if (gcPauses.length > 10_000) gcPauses.splice(0, 5_000); });
gcObserver.observe({ entryTypes: ['gc'] });

const rows: Row[] = [];
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
console.error(`load average ${load()} on ${availableParallelism()} cores; unmask pool: ${sharedUnmaskPool().size} worker(s) (the main thread plans and adds their partial sums)`);
// Spawn the pool's workers before timing, as a running aggregator has them from its first round.
const warm = sharedUnmaskPool().start(new Uint32Array(1));
warm.post([]);
await warm.finish();
if (keystream) keystreamRates();
for (const n of MEMBERS) await benchMembers(n, rows);
console.error(`load average ${load()} at the end`);
console.log(`members  params     dropout  k   t   client ms  unmask ms  unmask CPU ms${compareInThread ? '  in-thread ms' : ''}  plaintext ms  bytes/member  check`);
for (const r of rows) {
  console.log(
    `${String(r.members).padEnd(8)} ${String(r.params).padEnd(10)} ${`${r.dropout * 100}%`.padEnd(8)} ${String(r.k).padEnd(3)} ${String(r.t).padEnd(3)} ${String(r.clientMs).padStart(9)}  ${String(r.serverMs).padStart(9)}  ${String(r.serverCpuMs).padStart(12)}${compareInThread ? `  ${String(r.inThreadMs).padStart(12)}` : ''}  ${String(r.plaintextMs).padStart(12)}  ${String(r.bytesPerMember).padStart(12)}  ${r.checked}`,
  );
}
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify(rows.map(({ members, params, dropout, clientMs, serverMs, plaintextMs, bytesPerMember }) => ({ members, params, dropout, clientMs, serverMs, plaintextMs, bytesPerMember })), null, 2));
  console.error(`wrote ${jsonFile}`);
}
