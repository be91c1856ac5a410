// Checking a record's Merkle inclusion proof in the browser (RFC 9162
// §2.1.3.2) against a C2SP checkpoint whose Ed25519 signature is checked
// here too, with WebCrypto. Nothing of the server's verdict is taken on
// trust but the public key, which the verdict names.

const enc = new TextEncoder();

export function hexToBytes(hex) {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error(`not hex: ${hex.slice(0, 16)}…`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64ToBytes(b64) {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** True when this page can check proofs itself (a secure context with
 * SHA-256 and Ed25519 in WebCrypto). */
export async function canCheckHere() {
  if (!globalThis.crypto?.subtle) return false;
  try {
    await crypto.subtle.importKey("raw", new Uint8Array(32).fill(1), { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

/** RFC 9162 §2.1.3.2: the root that `leaf` at index `seq` and its audit
 * path `path` give in a tree of `size` leaves, or null when the path does
 * not fit the sizes. */
export async function rootFromInclusion(seq, size, leaf, path) {
  let fn = BigInt(seq), sn = BigInt(size) - 1n;
  if (fn > sn) return null;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat([1], p, r));
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await sha256(concat([1], r, p));
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/** Opens a C2SP signed note with the Ed25519 `publicKey` (32 bytes):
 * returns its text when a signature line by that key verifies, else
 * throws saying why. */
export async function openNote(note, publicKey) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n").filter((l) => l);
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, b64] = m;
    const sig = base64ToBytes(b64);
    const keyHash = (await sha256(concat(enc.encode(name), [0x0a, 0x01], publicKey))).slice(0, 4);
    if (sig.length !== 68 || !equal(sig.slice(0, 4), keyHash)) continue;
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), enc.encode(text))) {
      return { text, name };
    }
    throw new Error(`the signature by ${name} does not verify`);
  }
  throw new Error("no signature by the server's key");
}

/** Checks `proof` (the inclusion proof route's answer) for the record whose
 * receipt names `leafHex`, against `publicKeyHex`. Returns the list of
 * checks made, each {ok, what}; the verdict is that every one holds. */
export async function checkInclusion(proof, leafHex, publicKeyHex) {
  const checks = [];
  const check = (ok, what) => { checks.push({ ok, what }); return ok; };
  if (!check(proof.leaf_hash === leafHex, "the proof is for this record's leaf hash (its receipt)")) return checks;
  let opened;
  try {
    opened = await openNote(proof.checkpoint, hexToBytes(publicKeyHex));
    check(true, `the checkpoint is signed by ${opened.name} with key ${publicKeyHex.slice(0, 16)}…`);
  } catch (e) {
    check(false, `the checkpoint's signature: ${e.message}`);
    return checks;
  }
  const [origin, sizeLine, rootB64] = opened.text.split("\n");
  const root = base64ToBytes(rootB64 || "");
  if (!check(sizeLine === String(proof.tree_size) && bytesToHex(root) === proof.root,
    `the checkpoint (${origin}) covers ${sizeLine} records with the proof's root`)) return checks;
  const computed = await rootFromInclusion(proof.seq, proof.tree_size, hexToBytes(leafHex),
    proof.hashes.map(hexToBytes));
  check(computed !== null && equal(computed, root),
    `the ${proof.hashes.length} hashes of the audit path lead from the leaf to that root`);
  return checks;
}
