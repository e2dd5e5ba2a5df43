// Cell formats shared by every page: the same as meshstat's table (cli/stat_render.py).
"use strict";
const NO_DATA = "-";
// Python's rounding (meshstat's): both round the double's exact value, but an exact tie goes to
// the even digit in Python and up in JS. toFixed(60) is the exact expansion for these magnitudes.
function fixedLikePython(x, digits) {
  const [whole, frac] = x.toFixed(60).split(".");
  if (x >= 0 && /^50*$/.test(frac.slice(digits))) {
    const kept = frac.slice(0, digits);
    const last = Number((whole + kept).slice(-1));
    if (last % 2 === 0) return digits ? `${whole}.${kept}` : whole;
  }
  return x.toFixed(digits);
}
function fmtPercent(f) { return f === null || f === undefined ? NO_DATA : fixedLikePython(f * 100, 2) + "%"; }
function fmtRps(row) { return row.requests > 0 ? fixedLikePython(row.rps, 1) + "rps" : NO_DATA; }
function fmtLatency(ms) {
  if (ms === null || ms === undefined) return NO_DATA;
  if (ms >= 1) return fixedLikePython(ms, 0) + "ms";
  if (ms < 0.05) return "<0.1ms";
  return fixedLikePython(ms, 1) + "ms";
}
function fmtTime(unix) { return new Date(unix * 1000).toISOString().replace(".000Z", "Z"); }
// Success colour of an edge or cell: green at 100%, amber above 95%, red below.
function successColor(f) {
  if (f === null || f === undefined) return "#9aa3b2";
  if (f >= 0.9999) return "#2e7d32";
  if (f >= 0.95) return "#f9a825";
  return "#c62828";
}
