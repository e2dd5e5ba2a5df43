// Cell formats shared by every page: the same as meshstat's table (cli/stat_render.py).
"use strict";
const NO_DATA = "-";
function fmtPercent(f) { return f === null || f === undefined ? NO_DATA : (f * 100).toFixed(2) + "%"; }
function fmtRps(row) { return row.requests > 0 ? row.rps.toFixed(1) + "rps" : NO_DATA; }
function fmtLatency(ms) {
  if (ms === null || ms === undefined) return NO_DATA;
  if (ms >= 1) return Math.round(ms) + "ms";
  if (ms < 0.05) return "<0.1ms";
  return ms.toFixed(1) + "ms";
}
function fmtTime(unix) { return new Date(unix * 1000).toISOString().replace(".000Z", "Z"); }
// Success colour of an edge or cell: green at 100%, amber above 95%, red below.
function successColor(f) {
  if (f === null || f === undefined) return "#9aa3b2";
  if (f >= 0.9999) return "#2e7d32";
  if (f >= 0.95) return "#f9a825";
  return "#c62828";
}
