/** @module What the CLI prints: progress lines and result tables. */
import type { LocalFederation } from './local-file.ts';
import type { LocalReport } from './local.ts';

/**
 * One progress line: the round, its stage, and how many members have finished that stage. In fit
 * and evaluate that is the members' status; in the secure-aggregation stages it is the number of
 * messages the aggregator has accepted for the stage.
 */
export function progressLine(round: number, total: number, stage: string, participants: readonly { status: string }[], accepted: readonly { stage: string }[] = []): string {
  const count = (s: string) => participants.filter((p) => p.status === s).length;
  const dropped = count('dropped') + count('declined');
  const active = participants.length - dropped;
  let done: number;
  if (stage === 'fit') done = count('submitted') + count('evaluated');
  else if (stage === 'evaluate') done = count('evaluated');
  else if (stage === 'committed' || stage === 'failed') done = active;
  else done = accepted.filter((c) => c.stage === stage).length;
  return `round ${round}/${total} · ${stage} · ${done}/${active} members done${dropped ? ` · ${dropped} dropped or declined` : ''}`;
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '   —  ' : v.toFixed(3).padStart(6));

export function resultTable(report: LocalReport, reference?: LocalFederation['reference']): string {
  const rows = Object.entries(report.final.perMember).sort(([a], [b]) => a.localeCompare(b));
  const w = Math.max(14, ...rows.map(([n]) => n.length));
  const withAuc = rows.some(([, v]) => v.auc !== null && v.auc !== undefined);
  const pooled = report.pooledModel;
  const head = `${'member'.padEnd(w)}  test examples  accuracy${withAuc ? '     AUC' : ''}${pooled ? '  pooled model' : ''}`;
  const line = (name: string, examples: string, acc: number | null, auc: number | null | undefined, pooledAcc: number | null | undefined) =>
    `${name.padEnd(w)}  ${examples.padStart(13)}  ${pct(acc)}  ${withAuc ? `${pct(auc)}  ` : ''}${pooled ? `${pct(pooledAcc).padStart(12)}` : ''}`.trimEnd();
  // Members whose test split holds one class have no AUC; the mean is over those that do.
  const aucs = rows.map(([, v]) => v.auc).filter((a): a is number => a !== null && a !== undefined);
  const meanAuc = aucs.length ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null;
  const lines = [
    `Results after ${report.rounds.length} rounds (${report.strategy}, seed ${report.seed}, ${report.seconds.toFixed(1)} s)`,
    head,
    ...rows.map(([name, v]) => line(name, String(v.testExamples), v.accuracy, v.auc, pooled?.perMember[name]?.accuracy)),
    line('mean', '', report.final.meanAccuracy, meanAuc, pooled?.meanAccuracy),
  ];
  if (pooled) lines.push('', 'pooled model: one model trained on all members\' train splits together in this run (a reference only; a federation never pools data)');
  if (reference) {
    lines.push('', `Published for comparison: ${reference.source}`);
    for (const [label, v] of Object.entries(reference.meanAccuracy)) {
      lines.push(`${label.padEnd(Math.max(w, 28))}  ${pct(v)}${label === report.strategy ? '   <- same strategy' : ''}`);
    }
  }
  return lines.join('\n');
}
