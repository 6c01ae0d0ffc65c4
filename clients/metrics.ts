/** @module Evaluation metrics: accuracy, rank-based AUC, and the federation-wide view of members' reports. */

/** What a member reports after evaluating on its own test split (sums, so reports add up). */
export interface EvaluationReport {
  examples: number;
  correct: number;
  /** Sum over examples of the cross-entropy loss. */
  lossSum: number;
  /** Area under the ROC curve (binary labels only; absent when the split holds one class). */
  auc?: number;
}

/** Fraction of predictions equal to the labels (0 for no examples). */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (labels.length === 0) return 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}

/**
 * ROC AUC from ranks (Mann-Whitney U): the chance a random positive scores above a random
 * negative, ties counting one half. NaN when either class is absent.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const meanRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]] === 1) { positives++; rankSum += meanRank; }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Scores model outputs against labels: `probs` holds one probability per example (outputs 1,
 * threshold 0.5) or `outputs` class probabilities per example (argmax).
 */
export function scoreProbabilities(probs: Float32Array, labels: ArrayLike<number>, outputs: number): EvaluationReport {
  const n = labels.length;
  const eps = 1e-7;
  let correct = 0;
  let lossSum = 0;
  const positive = new Float64Array(outputs <= 2 ? n : 0);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (outputs === 1) {
      const p = Math.min(1 - eps, Math.max(eps, probs[i]));
      if ((p >= 0.5 ? 1 : 0) === y) correct++;
      lossSum -= y === 1 ? Math.log(p) : Math.log(1 - p);
      positive[i] = probs[i];
    } else {
      let best = 0;
      for (let k = 1; k < outputs; k++) if (probs[i * outputs + k] > probs[i * outputs + best]) best = k;
      if (best === y) correct++;
      lossSum -= Math.log(Math.min(1 - eps, Math.max(eps, probs[i * outputs + y])));
      if (outputs === 2) positive[i] = probs[i * outputs + 1];
    }
  }
  const report: EvaluationReport = { examples: n, correct, lossSum };
  if (outputs <= 2) {
    const a = auc(positive, labels);
    if (!Number.isNaN(a)) report.auc = a;
  }
  return report;
}

/** Federation-wide metrics from members' reports. */
export interface FederatedMetrics {
  examples: number;
  /** Example-weighted: all correct predictions over all test examples. */
  accuracy: number;
  /** Example-weighted mean loss. */
  loss: number;
  /** Unweighted mean of the members' accuracies (FLamby's headline metric). */
  meanMemberAccuracy: number;
  /** Example-weighted mean of the reported AUCs (members without one left out); absent if none. */
  auc?: number;
}

/** Combines members' evaluation reports; members with no test examples are left out of the means. */
export function aggregateEvaluations(reports: readonly EvaluationReport[]): FederatedMetrics {
  const used = reports.filter((r) => r.examples > 0);
  const examples = used.reduce((a, r) => a + r.examples, 0);
  const correct = used.reduce((a, r) => a + r.correct, 0);
  const lossSum = used.reduce((a, r) => a + r.lossSum, 0);
  const meanMemberAccuracy = used.length === 0 ? 0 : used.reduce((a, r) => a + r.correct / r.examples, 0) / used.length;
  const withAuc = used.filter((r) => r.auc !== undefined);
  const aucExamples = withAuc.reduce((a, r) => a + r.examples, 0);
  const out: FederatedMetrics = { examples, accuracy: examples === 0 ? 0 : correct / examples, loss: examples === 0 ? 0 : lossSum / examples, meanMemberAccuracy };
  if (aucExamples > 0) out.auc = withAuc.reduce((a, r) => a + r.auc! * r.examples, 0) / aucExamples;
  return out;
}
