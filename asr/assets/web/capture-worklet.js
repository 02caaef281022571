// The page's audio capture: an AudioWorkletProcessor that resamples the
// microphone to 16 kHz mono and posts 16-bit PCM blocks (an ArrayBuffer of
// `blockSamples` little-endian int16 samples, 100 ms by default) to the page,
// which sends each as one binary WebSocket message (asr.streaming.server).
//
// Resampling: a windowed-sinc low-pass evaluated at each output sample's
// fractional position in the input, so any context rate (44.1, 48, 96 kHz...)
// works. The cut-off is 7.8 kHz (at a 16 kHz target), close to Nyquist:
// the model's top mel bands reach 8 kHz, and a gentler filter (7.4 kHz)
// changed its letters. Kaiser window (beta 8, ~80 dB stop band), 80 zero
// crossings a side (~5 ms of delay), read from a table with linear
// interpolation. Input at 16 kHz passes through unchanged.
// port messages from the page: "flush" posts the last, shorter block and
// then the string "flushed".

const ZERO_CROSSINGS = 80;
const CUTOFF = 0.975; // of the lower Nyquist rate
const BETA = 8;
const TABLE_STEPS = 64; // kernel values per input sample

function besselI0(x) { // power series; fine for x <= 20
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.target = opts.targetRate || 16000;
    this.ratio = sampleRate / this.target; // input samples per output sample
    this.fc = CUTOFF * Math.min(1, this.target / sampleRate); // of input Nyquist
    this.half = Math.ceil(ZERO_CROSSINGS / this.fc); // kernel half-width, samples
    this.table = new Float32Array(this.half * TABLE_STEPS + 2);
    const norm = besselI0(BETA);
    for (let i = 0; i < this.table.length; i++) {
      const x = i / TABLE_STEPS, r = x / this.half;
      if (r >= 1) continue;
      const a = Math.PI * this.fc * x;
      const w = besselI0(BETA * Math.sqrt(1 - r * r)) / norm;
      this.table[i] = this.fc * w * (a === 0 ? 1 : Math.sin(a) / a);
    }
    this.buf = new Float32Array(4096 + 4 * this.half);
    this.len = 0; // samples held in buf
    this.t = 0; // next output sample's position in buf (input samples)
    this.block = new Int16Array(opts.blockSamples || 1600);
    this.n = 0; // samples in block
    this.port.onmessage = (e) => {
      if (e.data === "flush") {
        this.post(this.n);
        this.port.postMessage("flushed");
      }
    };
  }

  kernel(x) { // the table, linearly interpolated
    const p = Math.abs(x) * TABLE_STEPS, i = Math.floor(p);
    if (i >= this.table.length - 1) return 0;
    return this.table[i] + (p - i) * (this.table[i + 1] - this.table[i]);
  }

  post(count) {
    if (count === 0) return;
    const out = this.block.slice(0, count);
    this.port.postMessage(out.buffer, [out.buffer]);
    this.n = 0;
  }

  emit(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.block[this.n++] = Math.round(s < 0 ? s * 32768 : s * 32767);
    if (this.n === this.block.length) this.post(this.n);
  }

  append(x) {
    if (this.len + x.length > this.buf.length) {
      const grown = new Float32Array(2 * (this.len + x.length));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(x, this.len);
    this.len += x.length;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    let x = input[0];
    if (input.length > 1) { // a stereo device: the channels' mean
      x = new Float32Array(x.length);
      for (const ch of input) for (let i = 0; i < x.length; i++) x[i] += ch[i] / input.length;
    }
    if (this.ratio === 1) {
      for (let i = 0; i < x.length; i++) this.emit(x[i]);
      return true;
    }
    this.append(x);
    const buf = this.buf, h = this.half;
    while (this.t + h < this.len) {
      const c = Math.floor(this.t);
      let acc = 0;
      for (let k = Math.max(0, c - h + 1); k <= c + h; k++) {
        acc += buf[k] * this.kernel(this.t - k);
      }
      this.emit(acc);
      this.t += this.ratio;
    }
    const drop = Math.max(0, Math.floor(this.t) - h);
    if (drop > 0) {
      buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.t -= drop;
    }
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
