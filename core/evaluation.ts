/** @module Federated evaluation: members report counts on their own test split; the server aggregates. */
import { TesseraError } from './errors.ts';

/** What a member reports about a model on its own test split; no example leaves the member. */
export interface EvaluationReport {
  examples: number;
  correct: number;
  lossSum: number;
  /** Area under the ROC curve on the member's split (binary models), when computed. */
  auc?: number | null;
}

export interface EvaluationSummary {
  /** Mean of the per-member accuracies (the FLamby metric). */
  meanAccuracy: number | null;
  /** Accuracy over all members' test examples pooled. */
  pooledAccuracy: number | null;
  /** Mean loss per test example over all members. */
  meanLoss: number | null;
  examples: number;
  perMember: Record<string, { accuracy: number; loss: number; testExamples: number; auc: number | null }>;
}

/** Validates an untrusted report, naming the bad field. */
export function parseEvaluationReport(input: unknown): EvaluationReport {
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const count = (k: string): number => {
    const v = o[k];
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new TesseraError('BAD_REQUEST', `${k}: expected a non-negative integer`, { field: k });
    return v as number;
  };
  const examples = count('examples');
  const correct = count('correct');
  if (correct > examples) throw new TesseraError('BAD_REQUEST', 'correct: expected at most `examples`', { field: 'correct' });
  const lossSum = o.lossSum;
  if (typeof lossSum !== 'number' || !Number.isFinite(lossSum) || lossSum < 0) throw new TesseraError('BAD_REQUEST', 'lossSum: expected a finite non-negative number', { field: 'lossSum' });
  const auc = o.auc ?? null;
  if (auc !== null && (typeof auc !== 'number' || !(auc >= 0 && auc <= 1))) throw new TesseraError('BAD_REQUEST', 'auc: expected a number in [0, 1] or null', { field: 'auc' });
  return { examples, correct, lossSum, auc: auc as number | null };
}

export function summarizeEvaluations(reports: readonly (EvaluationReport & { memberId: string })[]): EvaluationSummary {
  const perMember: EvaluationSummary['perMember'] = {};
  let examples = 0, correct = 0, loss = 0, accSum = 0, counted = 0;
  for (const r of reports) {
    if (r.examples === 0) continue;
    perMember[r.memberId] = { accuracy: r.correct / r.examples, loss: r.lossSum / r.examples, testExamples: r.examples, auc: r.auc ?? null };
    examples += r.examples;
    correct += r.correct;
    loss += r.lossSum;
    accSum += r.correct / r.examples;
    counted++;
  }
  return {
    meanAccuracy: counted ? accSum / counted : null,
    pooledAccuracy: examples ? correct / examples : null,
    meanLoss: examples ? loss / examples : null,
    examples,
    perMember,
  };
}
