// One uPlot chart. Created once; later data goes through setData, which redraws the canvas only
// (no DOM rebuilt). Its width follows its box.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries { label: string; color: string }

export interface TimeSeriesChartProps {
  title: string;
  series: ChartSeries[];
  /** [unix seconds[], ...one array per series]; null is a gap. */
  data: [number[], ...(number | null)[][]];
  format: (v: number | null) => string;
  yRange?: [number, number];
  testId?: string;
}

export function TimeSeriesChart({ title, series, data, format, yRange, testId }: TimeSeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 180,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (_u, min, max) => [0, Math.max(max ?? 0, min ?? 0) * 1.1 || 1] } },
      axes: [{}, { values: (_u, ticks) => ticks.map((t) => format(t)), size: 64 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false, value: (_u: uPlot, v: number | null) => format(v) }))],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
    // how many points carry a value, for people reading the DOM (and the browser tests)
    box.current!.dataset.points = String(data[1].filter((v) => v !== null).length);
  }, [data]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} data-testid={testId} data-points="0" />
    </figure>
  );
}
