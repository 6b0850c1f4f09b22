// The zero-knowledge image login on the person's device (proto_version "1"): the steps of
// the reference client (VaultZKP.ZKPClient) in the browser, with WebCrypto for X25519,
// AES-GCM, HKDF and Ed25519. The photo is read from the file the person picks and never
// leaves the page; only a signature does.
"use strict";
window.VaultZKP = (function () {
  const SIDE = 32, POOL = 24;
  const encoder = new TextEncoder();

  const base64url = {
    decode(text) {
      const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
      return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    },
    encode(buffer) {
      return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };

  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  };
  const uint32 = (value) => Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);

  // MARK: The photo's features (ImageFeatures)

  // The photo as luma (ITU-R BT.601), as the reference client reads a colour image.
  async function grayImage(file) {
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const width = bitmap.width, height = bitmap.height;
    if (width < 1 || height < 1 || width > 8192 || height > 8192) throw new Error("image size");
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    const rgba = context.getImageData(0, 0, width, height).data;
    const pixels = new Float64Array(width * height);
    for (let i = 0; i < pixels.length; i++) {
      pixels[i] = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    }
    return { width, height, pixels };
  }

  // Area-averaged resize: each target pixel is the mean of the source area it covers.
  function resized(image, newWidth, newHeight) {
    const { width, height, pixels } = image;
    const out = new Float64Array(newWidth * newHeight);
    const sx = width / newWidth, sy = height / newHeight;
    for (let ty = 0; ty < newHeight; ty++) {
      const y0 = ty * sy, y1 = y0 + sy;
      for (let tx = 0; tx < newWidth; tx++) {
        const x0 = tx * sx, x1 = x0 + sx;
        let sum = 0, area = 0;
        for (let y = Math.floor(y0); y < y1 && y < height; y++) {
          const wy = Math.min(y + 1, y1) - Math.max(y, y0);
          for (let x = Math.floor(x0); x < x1 && x < width; x++) {
            const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
            sum += pixels[y * width + x] * w;
            area += w;
          }
        }
        out[ty * newWidth + tx] = area > 0 ? sum / area : 0;
      }
    }
    return out;
  }

  // The 2-D DCT-II of the 32×32 downscale: the low-frequency 24×24 corner, less DC.
  function coefficients(image) {
    const small = resized(image, SIDE, SIDE), n = SIDE;
    const cosines = new Float64Array(n * n);
    for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) cosines[k * n + i] = Math.cos(Math.PI / n * (i + 0.5) * k);
    const rows = new Float64Array(n * n);
    for (let y = 0; y < n; y++) {
      for (let k = 0; k < POOL; k++) {
        let sum = 0;
        for (let x = 0; x < n; x++) sum += small[y * n + x] * cosines[k * n + x];
        rows[y * n + k] = sum;
      }
    }
    const pool = [];
    for (let v = 0; v < POOL; v++) {
      for (let u = 0; u < POOL; u++) {
        if (u === 0 && v === 0) continue;
        let sum = 0;
        for (let y = 0; y < n; y++) sum += rows[y * n + u] * cosines[v * n + y];
        pool.push(sum);
      }
    }
    return pool;
  }

  function bits(pool, positions) {
    const median = Float64Array.from(pool).sort()[Math.floor(pool.length / 2)];
    return positions.map((position) => (pool[position] > median ? 1 : 0));
  }

  // MARK: Reed–Solomon over GF(2⁸) (ExtractorCode)

  const EXP = new Uint8Array(512), LOG = new Int32Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
  const mul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);
  const div = (a, b) => (a === 0 ? 0 : EXP[(LOG[a] + 255 - LOG[b]) % 255]);
  const power = (exponent) => EXP[((exponent % 255) + 255) % 255];
  const evaluate = (p, x) => p.reduce((acc, c) => mul(acc, x) ^ c, 0);

  function encode(message, code) {
    let g = [1];
    for (let i = 0; i < code.n - code.k; i++) {
      const next = new Array(g.length + 1).fill(0);
      g.forEach((c, j) => { next[j] ^= c; next[j + 1] ^= mul(c, power(i)); });
      g = next;
    }
    const remainder = message.concat(new Array(code.n - code.k).fill(0));
    for (let i = 0; i < code.k; i++) {
      const factor = remainder[i];
      if (factor === 0) continue;
      for (let j = 1; j < g.length; j++) remainder[i + j] ^= mul(g[j], factor);
    }
    return message.concat(remainder.slice(code.k));
  }

  // Syndromes, Berlekamp–Massey, Chien search and Forney: the message, or null when more
  // than t bytes are wrong.
  function decode(received, code) {
    const { n, k, t } = code, r = n - k;
    const syndromes = [];
    for (let i = 0; i < r; i++) syndromes.push(evaluate(received, power(i)));
    if (syndromes.every((s) => s === 0)) return received.slice(0, k);
    let locator = [1], previous = [1], length = 0, shift = 1, last = 1;
    for (let step = 0; step < r; step++) {
      let discrepancy = syndromes[step];
      for (let i = 1; i <= length; i++) if (i < locator.length) discrepancy ^= mul(locator[i], syndromes[step - i]);
      if (discrepancy === 0) { shift++; continue; }
      const scale = div(discrepancy, last);
      const updated = locator.slice();
      while (updated.length < previous.length + shift) updated.push(0);
      previous.forEach((c, i) => { updated[i + shift] ^= mul(scale, c); });
      if (2 * length <= step) {
        previous = locator;
        length = step + 1 - length;
        last = discrepancy;
        shift = 1;
      } else {
        shift++;
      }
      locator = updated;
    }
    while (locator.length > 1 && locator[locator.length - 1] === 0) locator.pop();
    const degree = locator.length - 1;
    if (degree !== length || degree > t) return null;
    const highestFirst = locator.slice().reverse();
    const positions = [];
    for (let i = 0; i < n; i++) if (evaluate(highestFirst, power(-(n - 1 - i))) === 0) positions.push(i);
    if (positions.length !== degree) return null;
    const omega = new Array(r).fill(0);
    syndromes.forEach((s, i) => locator.forEach((l, j) => { if (i + j < r) omega[i + j] ^= mul(s, l); }));
    const corrected = received.slice();
    for (const position of positions) {
      const inverse = power(-(n - 1 - position));
      let omegaValue = 0, p = 1;
      for (const c of omega) { omegaValue ^= mul(c, p); p = mul(p, inverse); }
      let derivative = 0;
      locator.forEach((c, j) => { if (j % 2 === 1) derivative ^= mul(c, power(-(n - 1 - position) * (j - 1))); });
      if (derivative === 0) return null;
      corrected[position] ^= mul(power(n - 1 - position), div(omegaValue, derivative));
    }
    for (let i = 0; i < r; i++) if (evaluate(corrected, power(i)) !== 0) return null;
    return corrected.slice(0, k);
  }

  const pack = (bitList) => {
    const out = [];
    for (let start = 0; start < bitList.length; start += 8) {
      let byte = 0;
      for (let i = 0; i < 8 && start + i < bitList.length; i++) byte |= bitList[start + i] << (7 - i);
      out.push(byte);
    }
    return out;
  };
  const unpack = (bytes, count) => Array.from({ length: count }, (_, i) => (bytes[i >> 3] >> (7 - (i % 8))) & 1);

  // MARK: The exchange

  // Compact JWE, ECDH-ES over X25519 with A256GCM and the Concat KDF (RFC 7518 §4.6).
  async function openChallenge(token, loginKey) {
    const parts = token.split(".");
    if (parts.length !== 5 || parts[1] !== "") throw new Error("challenge");
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0])));
    if (header.alg !== "ECDH-ES" || header.enc !== "A256GCM" || header.epk?.crv !== "X25519") throw new Error("challenge");
    const ephemeral = await crypto.subtle.importKey("raw", base64url.decode(header.epk.x), { name: "X25519" }, false, []);
    const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: ephemeral }, loginKey, 256));
    const algorithm = encoder.encode("A256GCM");
    const otherInfo = concat(uint32(algorithm.length), algorithm, uint32(0), uint32(0), uint32(256));
    const keyBytes = await crypto.subtle.digest("SHA-256", concat(uint32(1), shared, otherInfo));
    const key = await crypto.subtle.importKey("raw", keyBytes, { name: "AES-GCM" }, false, ["decrypt"]);
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: base64url.decode(parts[2]), additionalData: encoder.encode(parts[0]), tagLength: 128 },
      key, concat(base64url.decode(parts[3]), base64url.decode(parts[4])));
    return JSON.parse(new TextDecoder().decode(plaintext));
  }

  // HKDF-SHA256 of the key, bound to tenant and username, is the seed of the Ed25519 key.
  async function signingKey(key, tenant, username) {
    const material = await crypto.subtle.importKey("raw", Uint8Array.from(key), "HKDF", false, ["deriveBits"]);
    const seed = new Uint8Array(await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: encoder.encode("oidc-vault zkp v1"),
        info: concat(encoder.encode(tenant), Uint8Array.of(0), encoder.encode(username)) }, material, 256));
    const pkcs8 = concat(Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20), seed);
    return crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  }

  // A domain tag, then each field as a 4-byte big-endian length and its bytes.
  async function transcript(fields) {
    const helper = concat(fields.positions, fields.offset);
    const list = [fields.tenant, fields.client, fields.username, fields.challengeID].map((s) => encoder.encode(s))
      .concat([fields.nonce, encoder.encode("1"), encoder.encode(fields.algorithm), new Uint8Array(await crypto.subtle.digest("SHA-256", helper))]);
    return concat(encoder.encode("oidc-vault/zkp-login"), ...list.flatMap((field) => [uint32(field.length), field]));
  }

  return {
    // A fresh X25519 key for one login; its public half is the challenge's `cipherKey`.
    async loginKey() {
      const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
      return { privateKey: pair.privateKey, cipherKey: base64url.encode(await crypto.subtle.exportKey("raw", pair.publicKey)) };
    },

    // The answer to a sealed challenge with the photo: challenge_id, challenge_data and the
    // bit error rate the device saw (a risk signal; the signature is the proof).
    async answer({ challenge, loginKey, file, tenant, client, username }) {
      const payload = await openChallenge(challenge, loginKey);
      const code = payload.code;
      if (code?.type !== "reed-solomon-gf256" || code.n * 8 !== 248 || code.n - code.k !== 2 * code.t) throw new Error("challenge");
      const positionBytes = base64url.decode(payload.helper.positions), offsetBytes = base64url.decode(payload.helper.offset);
      const positions = [];
      for (let i = 0; i + 1 < positionBytes.length; i += 2) positions.push((positionBytes[i] << 8) | positionBytes[i + 1]);
      const image = await grayImage(file);
      const features = bits(coefficients(image), positions);
      const offset = unpack(offsetBytes, code.n * 8);
      const noisy = features.slice(0, code.n * 8).map((bit, i) => bit ^ offset[i]);
      const key = decode(pack(noisy), code);
      let errorBits = code.n * 8;
      if (key) {
        const codeword = unpack(encode(key, code), code.n * 8);
        errorBits = noisy.reduce((count, bit, i) => count + (bit === codeword[i] ? 0 : 1), 0);
      }
      // Too far from the enrolled photo: an answer is made anyway, with a key that cannot
      // be the person's, so the server, not the page, says no.
      const signer = await signingKey(key || new Array(code.k).fill(0), tenant, username);
      const message = await transcript({
        tenant, client, username, challengeID: payload.challenge_id, nonce: base64url.decode(payload.nonce),
        algorithm: payload.algorithm_version, positions: positionBytes, offset: offsetBytes,
      });
      const signature = await crypto.subtle.sign({ name: "Ed25519" }, signer, message);
      const countBits = code.n * 8;
      return {
        challenge_id: payload.challenge_id, challenge_data: base64url.encode(signature),
        ber: { ber: { count_bits: countBits, error_bits: errorBits, BER_PERCENT: (errorBits * 100 / countBits).toFixed(2) },
               image_dim: [image.width, image.height], algorithm_version: payload.algorithm_version },
      };
    },

    base64url,
  };
})();
