// Line charts as SVG text, in plain code (the scale mode's figures against N, docs/scale/): a log-scale x axis (N spans
// 10 to 10 000), a linear or log y axis, one polyline and its markers per series, a legend. Points whose value is null
// (not measured) are left out, and a series with none is listed in the legend as "not measured".

export interface Series {
  name: string
  points: ReadonlyArray<readonly [number, number | null]>
  /** A CSS colour; default from the palette. */
  colour?: string
  /** Draw dashed (models, next to measurements). */
  dashed?: boolean
}

export interface Chart {
  title: string
  xLabel: string
  yLabel: string
  series: readonly Series[]
  /** Log-scale y axis (values must be > 0 to be drawn); default linear from 0. */
  logY?: boolean
  width?: number
  height?: number
}

/** A chart that cannot be drawn. */
export class ChartError extends Error {
  constructor (detail: string) {
    super(`cannot draw the chart: ${detail}`)
    this.name = 'ChartError'
  }
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']
/** The legend sits right of the plot, in the right margin, clear of the curves. */
const MARGIN = { left: 70, right: 330, top: 40, bottom: 50 }
const LEGEND_LINE_PX = 16

/** XML text escaping for labels and names. */
export function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
}

/** Round tick values for a linear axis from 0 to max: 1, 2 or 5 times a power of ten apart, about five of them. */
export function linearTicks (max: number): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1]
  const rough = max / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= rough) ?? 10 * power
  const ticks: number[] = []
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)))
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)))
  return ticks
}

/** Powers of ten covering [min, max] (both > 0), for a log axis. */
export function logTicks (min: number, max: number): number[] {
  if (!(min > 0 && max >= min)) throw new ChartError(`a log axis needs 0 < min <= max; got ${min}, ${max}`)
  const ticks: number[] = []
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e)
  return ticks.length < 2 ? [ticks[0], ticks[0] * 10] : ticks
}

const format = (v: number): string => v >= 10_000 ? `${v / 1000}k` : String(Number(v.toPrecision(3)))

/** The chart as an SVG document. Throws ChartError when no series has an x value. */
export function lineChartSvg (chart: Chart): string {
  const width = chart.width ?? 960
  const height = chart.height ?? 400
  const xs = chart.series.flatMap(s => s.points.map(p => p[0]))
  if (xs.length === 0) throw new ChartError(`"${chart.title}" has no points`)
  if (xs.some(x => !(x > 0))) throw new ChartError(`"${chart.title}": N must be > 0 on a log axis`)
  const drawn = (v: number | null): v is number => v !== null && Number.isFinite(v) && (chart.logY !== true || v > 0)
  const ys = chart.series.flatMap(s => s.points.map(p => p[1]).filter(drawn))
  const xTicks = logTicks(Math.min(...xs), Math.max(...xs))
  const yTicks = chart.logY === true
    ? logTicks(ys.length === 0 ? 1 : Math.min(...ys), ys.length === 0 ? 10 : Math.max(...ys))
    : linearTicks(ys.length === 0 ? 1 : Math.max(...ys))
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = height - MARGIN.top - MARGIN.bottom
  const [x0, x1] = [Math.log10(xTicks[0]), Math.log10(xTicks[xTicks.length - 1])]
  const xPx = (x: number): number => MARGIN.left + ((Math.log10(x) - x0) / (x1 - x0)) * plotW
  const yOf = (y: number): number => chart.logY === true ? Math.log10(y) : y
  const [y0, y1] = [yOf(yTicks[0]), yOf(yTicks[yTicks.length - 1])]
  const yPx = (y: number): number => MARGIN.top + plotH - ((yOf(y) - y0) / (y1 - y0 || 1)) * plotH
  const px = (v: number): string => v.toFixed(1)

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`
  ]
  for (const t of xTicks) {
    out.push(`<line x1="${px(xPx(t))}" y1="${MARGIN.top}" x2="${px(xPx(t))}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`,
      `<text x="${px(xPx(t))}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${format(t)}</text>`)
  }
  for (const t of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${px(yPx(t))}" x2="${MARGIN.left + plotW}" y2="${px(yPx(t))}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${px(yPx(t) + 4)}" text-anchor="end">${format(t)}</text>`)
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`)
  chart.series.forEach((s, i) => {
    const colour = s.colour ?? PALETTE[i % PALETTE.length]
    const points = s.points.filter((p): p is readonly [number, number] => drawn(p[1]))
    if (points.length > 1) {
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''} points="${points.map(([x, y]) => `${px(xPx(x))},${px(yPx(y))}`).join(' ')}"/>`)
    }
    for (const [x, y] of points) out.push(`<circle cx="${px(xPx(x))}" cy="${px(yPx(y))}" r="3.5" fill="${colour}"><title>${escapeXml(s.name)}: N = ${x}, ${format(y)}</title></circle>`)
    const ly = MARGIN.top + 12 + i * LEGEND_LINE_PX
    const lx = MARGIN.left + plotW + 12
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 26}" y="${ly}">${escapeXml(s.name)}${points.length === 0 ? ' (not measured)' : ''}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
