/**
 * Draws a benchmark CSV as a PNG line chart (vega-lite -> SVG -> resvg), no browser needed.
 *
 *   tsx bench/plot.ts --csv bench/out/local.csv --x clients --y throughput_rps --series exec_ms --out bench/out/local-throughput.png
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Resvg } from "@resvg/resvg-js";
import { Command } from "commander";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

export interface PlotOptions {
  readonly rows: readonly Record<string, string | number>[];
  readonly x: string;
  readonly y: string;
  readonly series?: string;
  readonly title: string;
}

export function parseCsv(text: string): Record<string, string | number>[] {
  const [header, ...lines] = text.trim().split("\n");
  if (header === undefined) return [];
  const columns = header.split(",");
  return lines.map((line) => {
    const values = line.split(",");
    return Object.fromEntries(
      columns.map((column, index) => {
        const raw = values[index] ?? "";
        const number = Number(raw);
        return [column, raw !== "" && Number.isFinite(number) ? number : raw];
      }),
    );
  });
}

export async function renderPng(options: PlotOptions): Promise<Buffer> {
  const spec: vegaLite.TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: options.title,
    width: 480,
    height: 300,
    background: "white",
    data: { values: options.rows as Record<string, unknown>[] },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: options.x, type: "quantitative" },
      y: { field: options.y, type: "quantitative" },
      ...(options.series === undefined ? {} : { color: { field: options.series, type: "nominal" } }),
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { fitTo: { mode: "width", value: 960 }, font: { loadSystemFonts: true } })
    .render()
    .asPng();
}

async function main(): Promise<void> {
  const options = new Command()
    .name("plot")
    .requiredOption("--csv <file>", "CSV with a header row")
    .requiredOption("--x <column>", "x axis column")
    .requiredOption("--y <column>", "y axis column")
    .option("--series <column>", "one line per value of this column")
    .option("--title <text>", "chart title", "")
    .requiredOption("--out <file>", "PNG to write")
    .parse()
    .opts<{ csv: string; x: string; y: string; series?: string; title: string; out: string }>();
  const rows = parseCsv(readFileSync(options.csv, "utf8"));
  for (const column of [options.x, options.y, options.series].filter((value) => value !== undefined)) {
    if (rows.length > 0 && !(column in rows[0]!))
      throw new Error(`column "${column}" is not in ${options.csv}`);
  }
  const png = await renderPng({
    rows,
    x: options.x,
    y: options.y,
    title: options.title || `${options.y} by ${options.x}`,
    ...(options.series === undefined ? {} : { series: options.series }),
  });
  writeFileSync(options.out, png);
  console.error(`wrote ${options.out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  });
}
