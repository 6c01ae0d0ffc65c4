import { describe, expect, it } from 'vitest';
import { LineChart, ticks } from './chart.tsx';

describe('line chart', () => {
  it('picks round tick values that cover the data', () => {
    expect(ticks(0, 1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(ticks(0.457, 0.61, 4)).toEqual([0.45, 0.5, 0.55, 0.6, 0.65]);
    expect(ticks(3, 3)).toEqual([3]);
  });

  it('draws one polyline per series, a point per round, and escapes labels', async () => {
    const svg = String(
      await LineChart({
        title: 'Accuracy <per> round',
        yRange: [0, 1],
        format: (v) => v.toFixed(2),
        series: [
          { label: 'mean', color: '#2563eb', points: [[1, 0.5], [2, 0.7], [3, 0.8]] },
          { label: 'pooled', color: '#16a34a', dashed: true, points: [[1, 0.55], [3, 0.75]] },
        ],
      }),
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(5);
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('Accuracy &lt;per&gt; round');
    expect(String(await LineChart({ title: 't', format: String, series: [{ label: 'x', color: '#000', points: [] }] }))).toContain('No evaluated rounds yet');
  });
});
