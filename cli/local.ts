/**
 * @module `tessera local <file>` and `tessera demo <name>`: a whole federation on this machine.
 * The aggregator runs in this process (PGlite in a fresh folder, a free loopback port); each
 * member is its own OS process running `tessera client run` on its own dataset only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../core/errors.ts';
import type { EvaluationSummary } from '../core/evaluation.ts';
import type { FederationConfig } from '../core/federation.ts';
import { Transport } from '../clients/transport.ts';
import { startAggregator } from '../aggregator/server.ts';
import type { LocalFederation } from './local-file.ts';
import { readLocalFederation } from './local-file.ts';
import { progressLine, resultTable } from './output.ts';
import type { PooledResult } from './pooled.ts';
import { pooledReference } from './pooled.ts';

export interface LocalRunOptions {
  seed: number;
  /** Overrides every dataset spec's split seed (default: the specs' own fixed splits). */
  splitSeed?: number;
  report?: string;
  /** Override the file's strategy name (e.g. for benchmarks). */
  strategy?: string;
  rounds?: number;
  dataDir?: string;
  databaseUrl?: string;
  /** Quiet: no progress lines (benchmarks). */
  quiet?: boolean;
  /** Secure aggregation (default on); false runs the plaintext protocol, to compare (`--no-secure`). */
  secure?: boolean;
}

/** What a secure round reports about its aggregation (rounds/secure.ts). */
export interface SecureRoundFigures {
  survivors: number;
  dropped: string[];
  clipped: number;
  clippedFraction: number;
  clippedReport: string;
  meanErrorBound: number | null;
}

export interface LocalReport {
  federation: string;
  strategy: string;
  seed: number;
  rounds: { round: number; status: string; meanAccuracy: number | null; meanLoss: number | null; perMember: Record<string, { accuracy: number; testExamples: number }>; failureReason?: string | null; secure?: SecureRoundFigures | null }[];
  /** Whether the rounds ran secure aggregation. */
  secure: boolean;
  final: { meanAccuracy: number | null; pooledAccuracy: number | null; perMember: Record<string, { accuracy: number; testExamples: number; auc: number | null }> };
  seconds: number;
  /** The centralised reference trained in the same run (when the file asks for it). */
  pooledModel?: PooledResult;
}

const mainScript = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Spawns `tessera client run` for one member as a separate OS process. */
function spawnMember(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', mainScript, 'client', 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TESSERA_LOG: 'quiet' },
  });
}

export async function runLocalFile(path: string, opts: LocalRunOptions): Promise<LocalReport> {
  return runLocal(readLocalFederation(path), opts);
}

export async function runLocal(spec: LocalFederation, opts: LocalRunOptions): Promise<LocalReport> {
  const started = Date.now();
  const out = opts.quiet ? () => {} : (line: string) => process.stdout.write(line + '\n');
  const dataDir = resolve(opts.dataDir ?? join('.tessera', 'runs', `${String(spec.federation.name ?? 'local').replace(/[^A-Za-z0-9_-]/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`));
  mkdirSync(dataDir, { recursive: true });
  const aggregator = await startAggregator({ dataDir, databaseUrl: opts.databaseUrl, log: opts.quiet ? () => {} : (l) => out(`[aggregator] ${l}`) });
  const children: ChildProcess[] = [];
  try {
    const operator = new Transport({ baseUrl: aggregator.url, bearer: aggregator.operatorToken!, retries: 2 });
    const strategy = opts.strategy ? { name: opts.strategy } : spec.federation.strategy;
    const fileSecure = spec.federation.secure;
    const secure = opts.secure === false ? { ...(typeof fileSecure === 'object' && fileSecure !== null ? fileSecure : {}), enabled: false } : fileSecure;
    const body = { ...spec.federation, strategy, seed: opts.seed, ...(opts.rounds ? { rounds: opts.rounds } : {}), ...(secure !== undefined ? { secure } : {}) };
    const { federation } = await operator.json<{ federation: { id: string; config: { rounds: number; strategy: { name: string }; secure?: { enabled: boolean } } } }>('POST', '/v1/federations', { body });
    const fid = federation.id;
    const names = new Map<string, string>();
    const exited: string[] = [];
    const stderr = new Map<string, string>();
    for (const m of spec.members) {
      const { invitation } = await operator.json<{ invitation: { token: string } }>('POST', `/v1/federations/${fid}/invitations`, { body: { memberName: m.name } });
      const child = spawnMember(['--url', aggregator.url, '--federation', fid, '--invitation', invitation.token, '--dataset', m.dataset, '--seed', String(opts.seed), ...(opts.splitSeed !== undefined ? ['--split-seed', String(opts.splitSeed)] : []), '--events']);
      children.push(child);
      stderr.set(m.name, '');
      child.stderr!.on('data', (d: Buffer) => stderr.set(m.name, (stderr.get(m.name)! + d.toString()).slice(-4000)));
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const e = JSON.parse(line) as { kind: string; member: string; memberId?: string; backend?: string; train?: number; test?: number };
            if (e.kind === 'ready') {
              names.set(e.memberId!, e.member);
              out(`[${e.member}] own process (pid ${child.pid}): ${e.train} train / ${e.test} test examples, TF.js backend ${e.backend}`);
            }
          } catch {
            /* not an event line */
          }
        }
      });
      child.on('exit', (code) => {
        if (code !== 0) exited.push(`${m.name} exited with code ${code}: ${stderr.get(m.name)!.trim().split('\n').slice(-3).join(' | ')}`);
      });
    }
    // Wait for every member to enroll before the first round opens.
    while (names.size < spec.members.length) {
      if (exited.length) throw new TesseraError('INTERNAL', `a member process failed: ${exited[0]}`);
      await sleep(100);
    }
    const total = federation.config.rounds;
    const rounds: LocalReport['rounds'] = [];
    const perMember = (s: EvaluationSummary | null) =>
      Object.fromEntries(Object.entries(s?.perMember ?? {}).map(([id, v]) => [names.get(id) ?? id, { accuracy: v.accuracy, testExamples: v.testExamples, auc: v.auc }]));
    for (let r = 1; r <= total; r++) {
      await operator.json('POST', `/v1/federations/${fid}/rounds`);
      let shown = '';
      for (;;) {
        if (exited.length) throw new TesseraError('INTERNAL', `a member process failed: ${exited[0]}`);
        const detail = await operator.json<{ round: { status: string; stage: string | null; metrics: EvaluationSummary | null; failureReason: string | null }; participants: { status: string }[]; contributions: { stage: string }[] }>('GET', `/v1/federations/${fid}/rounds/${r}`);
        const line = progressLine(r, total, detail.round.stage ?? detail.round.status, detail.participants, detail.contributions);
        if (line !== shown) { out(line); shown = line; }
        if (detail.round.status !== 'open') {
          const m = detail.round.metrics;
          const secureFigures = (m as { secure?: SecureRoundFigures } | null)?.secure ?? null;
          rounds.push({ round: r, status: detail.round.status, meanAccuracy: m?.meanAccuracy ?? null, meanLoss: m?.meanLoss ?? null, perMember: perMember(m), failureReason: detail.round.failureReason, secure: secureFigures });
          if (secureFigures) out(`round ${r}: securely aggregated ${secureFigures.survivors} masked updates; ${secureFigures.clippedReport}`);
          if (detail.round.status === 'failed') out(`round ${r} failed: ${detail.round.failureReason}`);
          break;
        }
        await sleep(150);
      }
    }
    await Promise.all(children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((res) => c.once('exit', res)))));
    const last = [...rounds].reverse().find((r) => r.status === 'committed');
    const lastDetail = last ? await operator.json<{ round: { metrics: EvaluationSummary } }>('GET', `/v1/federations/${fid}/rounds/${last.round}`) : null;
    const report: LocalReport = {
      federation: String(spec.federation.name),
      strategy: federation.config.strategy.name,
      secure: federation.config.secure?.enabled ?? false,
      seed: opts.seed,
      rounds,
      final: { meanAccuracy: lastDetail?.round.metrics.meanAccuracy ?? null, pooledAccuracy: lastDetail?.round.metrics.pooledAccuracy ?? null, perMember: perMember(lastDetail?.round.metrics ?? null) },
      seconds: (Date.now() - started) / 1000,
    };
    if (spec.pooledReference) {
      out('training the pooled reference model (all members\' train splits together; demo only)…');
      report.pooledModel = await pooledReference(spec.members, federation.config as unknown as FederationConfig, { seed: opts.seed, splitSeed: opts.splitSeed });
    }
    out('');
    out(resultTable(report, spec.reference));
    if (opts.report) {
      writeFileSync(opts.report, JSON.stringify(report, null, 2) + '\n');
      out(`report written to ${opts.report}`);
    }
    return report;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await aggregator.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
