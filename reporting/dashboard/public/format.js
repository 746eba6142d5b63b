// Display formats. Exact values stay in data-value attributes; these only decide what a person reads.

const usdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallUsdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 });
const intFormat = new Intl.NumberFormat('en-US');

/** Cents for ordinary amounts; three significant digits below a cent, so $0.0004 does not read as $0.00. */
export function usd(value) {
  return value !== 0 && Math.abs(value) < 0.01 ? smallUsdFormat.format(value) : usdFormat.format(value);
}

export function int(value) {
  return intFormat.format(value);
}

/** "+12% vs same days last month", or why there is nothing to compare with. */
export function change(now, before) {
  if (before === 0) return now === 0 ? 'none in the same days last month either' : 'none in the same days last month';
  const pct = ((now - before) / before) * 100;
  const sign = pct > 0 ? '+' : pct < 0 ? '−' : '±';
  return `${sign}${Math.abs(pct).toFixed(Math.abs(pct) < 10 ? 1 : 0)}% vs same days last month`;
}
