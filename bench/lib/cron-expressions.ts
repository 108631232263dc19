/**
 * Distinct 5-field cron expressions, made deterministically (S1-cron, S9): task i gets expression i, and no two
 * of the first 120,960 are equal. Three shapes take turns (i mod 3), each with its minute and hour counting up:
 * - `m h * M d`: weekly on day d (0–6), every month for the first 10,080, then in one month M;
 * - `m h D * *`: monthly on day D (1–28);
 * - `m h D M *`: yearly, on day D of month M.
 * The shapes differ in which fields are `*`, so an expression of one never equals one of another.
 */
export function cronExpression(i: number): string {
  const shape = i % 3;
  const q = Math.floor(i / 3);
  const minute = q % 60;
  const hour = Math.floor(q / 60) % 24;
  const rest = Math.floor(q / 1440);
  if (shape === 0) {
    // rest 0–6: every month; then 12 months × 7 days: distinct for q < 1,440 × 91.
    const month = rest < 7 ? '*' : String(1 + (Math.floor((rest - 7) / 7) % 12));
    return `${minute} ${hour} * ${month} ${rest % 7}`;
  }
  if (shape === 1) return `${minute} ${hour} ${1 + (rest % 28)} * *`; // distinct for q < 1,440 × 28
  return `${minute} ${hour} ${1 + (rest % 28)} ${1 + (Math.floor(rest / 28) % 12)} *`;
}

/** The largest count `cronExpression` keeps distinct (the monthly shape's 40,320 distinct values, ×3). */
export const DISTINCT_CRON_EXPRESSIONS = 3 * 1440 * 28;
