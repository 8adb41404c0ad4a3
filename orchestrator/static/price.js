// Prices as the program's card writes them (mixer/graphics/text.py format_price), so the crew's
// page, the host's cue and the picture on air never show one price two ways: yuan rounded half up
// to the fen from the number's shortest decimal form, thousands separated, trailing zeros dropped
// (39.9 -> "39.9", 119800 -> "119,800", 3.05 -> "3.05").
window.priceText = (value) => {
  const n = Number(value);
  if (value == null || value === "" || !Number.isFinite(n) || n < 0) return "—";
  // Prices are 0-1e7 yuan (orchestrator/fields.py): toString() has no exponent from 1e-6 up, and
  // anything smaller rounds to 0.
  const [whole, frac = ""] = (n < 0.001 ? 0 : n).toString().split(".");
  let fen = BigInt(whole + (frac + "00").slice(0, 2));
  if ((frac[2] || "0") >= "5") fen += 1n;
  const cents = fen % 100n;
  let text = (fen / 100n).toLocaleString("en-US");
  if (cents) text += ("." + cents.toString().padStart(2, "0")).replace(/0$/, "");
  return "¥" + text;
};
