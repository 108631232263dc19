/**
 * Tables that fit the terminal (80 columns when output is not a terminal). Columns take the width their content
 * needs; when the row is too wide, the shrinkable columns give up width, widest first, down to their minimum. A
 * cell longer than its column wraps (up to the column's `maxLines`) or is cut, and a cut ends in `…`. Colour is
 * applied after layout, so escapes never count as width.
 */
import type { Paint } from './colour.js';

/** A column of a table. */
export interface Column {
  header: string;
  /** May give up width down to `min` (default: its natural width, i.e. never shrinks). */
  min?: number;
  /** Lines a cell may wrap onto when it is too wide (default 1: cut with `…`). */
  maxLines?: number;
  /** Right-aligned (numbers). */
  align?: 'left' | 'right';
}

/** A cell: its text (`\n` separates lines of their own) and how to paint it. */
export interface Cell {
  text: string;
  paint?: Paint;
}

/** A row: its cells, and optional lines below it (indented, each cut to the table's width). */
export interface Row {
  cells: Array<Cell | string>;
  details?: Cell[];
}

/** Options of `renderTable`. */
export interface TableOptions {
  /** The width to fit. */
  width: number;
  /** Paints the header line's text. */
  headerPaint?: Paint;
  /** Blank columns between columns. @default 2 */
  gap?: number;
}

const ELLIPSIS = '…';

/** Renders the table as lines (no trailing blanks), fitting `options.width` when the minimums allow. */
export function renderTable(
  columns: readonly Column[],
  rows: readonly Row[],
  options: TableOptions,
): string[] {
  const gap = options.gap ?? 2;
  const cellsOf = (row: Row): Cell[] => columns.map((_, index) => toCell(row.cells[index] ?? ''));
  const widths = fitWidths(
    columns,
    rows.map((row) => cellsOf(row)),
    options.width,
    gap,
  );
  const separator = ' '.repeat(gap);
  const lines: string[] = [];
  const header = columns.map((column, index) =>
    pad(cut(column.header, widths[index] as number), widths[index] as number, column.align),
  );
  lines.push(paintLine(header.join(separator).trimEnd(), options.headerPaint));
  for (const row of rows) {
    const laidOut = cellsOf(row).map((cell, index) => {
      const column = columns[index] as Column;
      return layoutCell(cell.text, widths[index] as number, column.maxLines ?? 1);
    });
    const height = Math.max(1, ...laidOut.map((cellLines) => cellLines.length));
    for (let line = 0; line < height; line++) {
      const parts = laidOut.map((cellLines, index) => {
        const column = columns[index] as Column;
        const width = widths[index] as number;
        const text = cellLines[line] ?? '';
        const padded = pad(text, width, column.align);
        const paint = toCell(row.cells[index] ?? '').paint;
        if (paint === undefined || text === '') return padded;
        // Paint the text only, not the padding around it.
        return column.align === 'right'
          ? `${' '.repeat(width - text.length)}${paint(text)}`
          : `${paint(text)}${' '.repeat(width - text.length)}`;
      });
      lines.push(parts.join(separator).trimEnd());
    }
    for (const detail of row.details ?? []) {
      if (detail.text === '') continue;
      const text = cut(`  ${detail.text.replace(/\s*[\r\n]+\s*/g, ' ')}`, options.width);
      lines.push(detail.paint === undefined ? text : `  ${detail.paint(text.slice(2))}`);
    }
  }
  return lines;
}

function toCell(cell: Cell | string): Cell {
  return typeof cell === 'string' ? { text: cell } : cell;
}

/**
 * The width of each column: natural widths; while the row is too wide, the column furthest above its minimum gives
 * up one (so short columns keep their width and the long ones share what is left).
 */
export function fitWidths(
  columns: readonly Column[],
  rows: readonly Cell[][],
  width: number,
  gap: number,
): number[] {
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...rows.map((cells) => longestLine(cells[index]?.text ?? ''))),
  );
  const mins = columns.map((column, index) =>
    Math.min(widths[index] as number, Math.max(column.header.length, column.min ?? Number.POSITIVE_INFINITY)),
  );
  let total = widths.reduce((sum, w) => sum + w, 0) + gap * (columns.length - 1);
  while (total > width) {
    let chosen = -1;
    let most = 0;
    for (let index = 0; index < widths.length; index++) {
      const excess = (widths[index] as number) - (mins[index] as number);
      if (excess > most) {
        most = excess;
        chosen = index;
      }
    }
    if (chosen < 0) break;
    widths[chosen] = (widths[chosen] as number) - 1;
    total--;
  }
  return widths;
}

/**
 * A cell's text in lines of at most `width`: each of its own lines cut (`maxLines` 1) or wrapped, at blanks where
 * it can; wrapping stops at `maxLines` lines (or at its own line count, if more), the last one ending in `…`.
 */
export function layoutCell(text: string, width: number, maxLines: number): string[] {
  const own = text.split('\n');
  if (maxLines <= 1) return own.map((line) => cut(line, width));
  const lines = own.flatMap((line) => wrap(line, width));
  const limit = Math.max(maxLines, own.length);
  if (lines.length <= limit) return lines;
  const kept = lines.slice(0, limit);
  const last = kept[limit - 1] as string;
  kept[limit - 1] = last.length < width ? `${last}${ELLIPSIS}` : `${last.slice(0, width - 1)}${ELLIPSIS}`;
  return kept;
}

/** Wraps one line to `width`: at the last blank that fits, else after the last `-_.:/` that fits, else hard. */
function wrap(line: string, width: number): string[] {
  const out: string[] = [];
  let rest = line;
  while (rest.length > width) {
    const blank = rest.lastIndexOf(' ', width);
    let at = blank > 0 ? blank : width;
    if (blank <= 0) {
      const head = rest.slice(0, width);
      const punctuation = Math.max(...['-', '_', '.', ':', '/'].map((mark) => head.lastIndexOf(mark)));
      if (punctuation > 0) at = punctuation + 1;
    }
    out.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  out.push(rest);
  return out;
}

/** `text` cut to `width`, ending in `…` when cut. */
export function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 0) return '';
  return `${text.slice(0, width - 1)}${ELLIPSIS}`;
}

function pad(text: string, width: number, align: Column['align']): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}

function longestLine(text: string): number {
  return Math.max(0, ...text.split('\n').map((line) => line.length));
}

function paintLine(text: string, paint: Paint | undefined): string {
  return paint === undefined || text === '' ? text : paint(text);
}
