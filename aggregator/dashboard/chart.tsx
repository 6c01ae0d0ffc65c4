/** @module A line chart as inline SVG (no script): one value per round, one line per series. */
import type { FC } from 'hono/jsx';

export interface Series {
  label: string;
  color: string;
  /** [round, value]; rounds without a value are skipped (the line joins its neighbours). */
  points: [number, number][];
  /** Drawn dashed (a second series that may lie on top of the first). */
  dashed?: boolean;
}

export interface LineChartProps {
  title: string;
  series: Series[];
  /** Fixed y range (accuracy: [0, 1]); else fitted to the data with some margin. */
  yRange?: [number, number];
  format: (v: number) => string;
  id?: string;
}

const W = 460;
const H = 230;
const M = { left: 52, right: 16, top: 16, bottom: 40 };

/** "Nice" tick values from at or below `lo` to at or above `hi`, about `count` steps apart. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const last = Math.ceil(hi / step - 1e-9);
  for (let i = Math.floor(lo / step + 1e-9); i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

export const LineChart: FC<LineChartProps> = ({ title, series, yRange, format, id }) => {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    return (
      <figure class="card" id={id} style="margin:0">
        <figcaption>
          <b>{title}</b>
        </figcaption>
        <p class="muted">No evaluated rounds yet.</p>
      </figure>
    );
  }
  const xs = all.map((p) => p[0]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = yRange ?? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (!yRange) {
    const pad = (y1 - y0) * 0.15 || Math.abs(y1) * 0.1 || 0.1;
    [y0, y1] = [Math.max(0, y0 - pad), y1 + pad];
  }
  const yTicks = ticks(y0, y1, 4);
  [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number) => M.left + (x1 === x0 ? (W - M.left - M.right) / 2 : ((x - x0) / (x1 - x0)) * (W - M.left - M.right));
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const xTicks = x1 - x0 <= 12 ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : ticks(x0, x1, 8).filter(Number.isInteger);
  return (
    <figure class="card" id={id} style="margin:0">
      <figcaption style="display:flex;justify-content:space-between;align-items:baseline">
        <b>{title}</b>
        <span class="small">
          {series.map((s) => (
            <span style="margin-left:.8rem">
              <span style={`display:inline-block;width:.9rem;height:0;border-top:3px ${s.dashed ? 'dashed' : 'solid'} ${s.color};vertical-align:middle;margin-right:.3rem`} />
              {s.label}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={title} xmlns="http://www.w3.org/2000/svg">
        {yTicks.map((v) => (
          <g>
            <line x1={M.left} x2={W - M.right} y1={py(v)} y2={py(v)} stroke="#e4e7eb" />
            <text x={M.left - 6} y={py(v) + 4} text-anchor="end" font-size="11" fill="#616e7c">
              {format(v)}
            </text>
          </g>
        ))}
        <line x1={M.left} x2={W - M.right} y1={H - M.bottom} y2={H - M.bottom} stroke="#9aa5b1" />
        {xTicks.map((x) => (
          <text x={px(x)} y={H - M.bottom + 16} text-anchor="middle" font-size="11" fill="#616e7c">
            {x}
          </text>
        ))}
        <text x={(M.left + W - M.right) / 2} y={H - 6} text-anchor="middle" font-size="11.5" fill="#3e4c59">
          round
        </text>
        {series.map((s) => (
          <g>
            <polyline fill="none" stroke={s.color} stroke-width="2.2" stroke-linejoin="round" stroke-dasharray={s.dashed ? '6 4' : undefined} points={s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')} />
            {s.points.map(([x, y]) => (
              <circle cx={px(x)} cy={py(y)} r="3.5" fill="#fff" stroke={s.color} stroke-width="2">
                <title>{`${s.label}, round ${x}: ${format(y)}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
    </figure>
  );
};
