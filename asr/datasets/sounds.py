"""Generated sounds for noise files (`asr.datasets.noise`): colored noise,
mains hum, synthetic babble, everyday sound families and music.

Each generator takes a length and a `numpy` random generator and returns float32
samples at RMS 1 (the caller sets the level); the same generator state gives
the same samples.
"""

from __future__ import annotations

import math

import numpy as np

from asr.audio import SAMPLE_RATE

_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power ~ 1/f^beta
_CORNER_HZ = 20.0


def _normalised(out: np.ndarray) -> np.ndarray:
    return (out / max(np.sqrt(np.mean(out**2)), 1e-12)).astype(np.float32)


def colored_noise(
    kind: str, samples: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """White, pink or brown Gaussian noise.

    Args:
        kind: "white", "pink" or "brown".
        samples: output length.
    Returns:
        (samples,) float32 with RMS 1, zero mean, circular (its end joins its
        start smoothly).
    Raises:
        ValueError: unknown kind.
    """
    if kind not in _BETA:
        raise ValueError(f"colored_noise: unknown kind {kind!r}; known: {list(_BETA)}")
    spectrum = rng.standard_normal(samples // 2 + 1) + 1j * rng.standard_normal(
        samples // 2 + 1
    )
    freqs = np.fft.rfftfreq(samples, 1.0 / sample_rate)
    spectrum *= np.maximum(freqs, _CORNER_HZ) ** (-_BETA[kind] / 2.0)
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, samples)
    return _normalised(out)


def hum(
    samples: int,
    rng: np.random.Generator,
    mains_hz: float = 50.0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mains hum: `mains_hz` and its harmonics up to 2 kHz (random amplitudes
    falling about 1/k, random phases, a slow 5 % level wobble) plus hiss 30 dB
    below it.

    Returns:
        (samples,) float32 with RMS 1.
    """
    t = np.arange(samples) / sample_rate
    out = np.zeros(samples)
    for k in range(1, int(2000 // mains_hz) + 1):
        amp = rng.uniform(0.3, 1.0) / k
        if k % 2 == 1:  # odd harmonics dominate (transformer saturation)
            amp *= 2.0
        out += amp * np.sin(
            2 * math.pi * k * mains_hz * t + rng.uniform(0, 2 * math.pi)
        )
    out *= 1.0 + 0.05 * np.sin(2 * math.pi * rng.uniform(0.1, 0.5) * t)
    out /= np.sqrt(np.mean(out**2))
    out += 10 ** (-30 / 20) * rng.standard_normal(samples)
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


def babble(
    samples: int,
    rng: np.random.Generator,
    speakers: int | None = None,
    sentence_seed: str = "babble",
) -> np.ndarray:
    """Several espeak-ng voices talking over each other.

    Each speaker says random sentences (`generate_sentences`) with a random
    voice, rate and pitch, separated by 0.1-0.6 s pauses, cut in at a random
    point of its first second; speakers are summed at levels within 6 dB of each other.

    Args:
        samples: output length.
        speakers: how many (default: 4 to 8, drawn from `rng`).
        sentence_seed: the sentence stream; varied per file by the caller.
    Returns:
        (samples,) float32 with RMS 1.
    Raises:
        SynthesisError: espeak-ng is missing.
    """
    from asr.datasets.espeak import list_voices, synthesize
    from asr.datasets.sentences import generate_sentences

    voices = list_voices("en")
    count = int(speakers if speakers is not None else rng.integers(4, 9))
    # Sentences last 1-4 s, so this many cover every speaker's share.
    per_speaker = max(2, math.ceil(samples / SAMPLE_RATE) + 2)
    sentences = iter(generate_sentences(count * per_speaker, seed=sentence_seed))
    out = np.zeros(samples)
    for _ in range(count):
        voice = voices[rng.integers(len(voices))]
        rate, pitch = int(rng.integers(130, 211)), int(rng.integers(20, 80))
        # Each talker is already speaking when the clip starts.
        start = int(rng.integers(0, SAMPLE_RATE))
        track: list[np.ndarray] = []
        have = 0
        while have < start + samples:
            clip = synthesize(next(sentences), voice, rate, pitch, pad_ms=0.0)
            gap = np.zeros(int(rng.uniform(0.1, 0.6) * SAMPLE_RATE))
            track += [clip, gap]
            have += len(clip) + len(gap)
        speech = np.concatenate(track)[start : start + samples]
        speech /= max(np.sqrt(np.mean(speech**2)), 1e-12)
        out += speech * 10 ** (rng.uniform(-3, 3) / 20)
    return _normalised(out)


def music(
    samples: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A generated pop-like piece: a I-V-vi-IV style progression of chords
    (three harmonic tones), a bass line on the roots, a melody of scale notes
    on eighths, and drums (kick on beats 1 and 3, snare on 2 and 4, hi-hat on
    every eighth), at a random tempo (80-140 bpm), key and timbre.

    Returns:
        (samples,) float32 with RMS 1.
    """
    beat = 60.0 / rng.uniform(80, 140)
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key's tonic (C3-B3)
    major = np.array([0, 2, 4, 5, 7, 9, 11])
    progression = [(0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4)][rng.integers(3)]
    bright = rng.uniform(0.4, 0.9)  # partial k has amplitude bright**(k-1)
    out = np.zeros(samples + 2 * sample_rate)
    levels = {"chords": 1.0, "bass": 1.2, "melody": 0.8, "drums": 1.0}
    levels = {k: v * 10 ** (rng.uniform(-4, 4) / 20) for k, v in levels.items()}

    def tone(midi: float, seconds: float, decay: float) -> np.ndarray:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        wave = sum(
            bright ** (k - 1) * np.sin(2 * math.pi * k * f0 * t + rng.uniform(0, 6.3))
            for k in range(1, 7)
            if k * f0 < sample_rate / 2
        )
        attack = np.minimum(t / 0.01, 1.0)
        return wave * attack * np.exp(-t / decay)

    def drum(kind: str) -> np.ndarray:
        n = int(0.25 * sample_rate)
        t = np.arange(n) / sample_rate
        if kind == "kick":  # a falling sine, 120 -> 45 Hz
            freq = 45 + 75 * np.exp(-t / 0.03)
            return np.sin(2 * math.pi * np.cumsum(freq) / sample_rate) * np.exp(
                -t / 0.12
            )
        hiss = rng.standard_normal(n)
        if kind == "hat":  # first difference: a high-passed burst
            return 0.3 * np.diff(hiss, prepend=0.0) * np.exp(-t / 0.02)
        return 0.6 * hiss * np.exp(-t / 0.06)  # snare

    def add(wave: np.ndarray, at: float, level: float) -> None:
        i = int(at * sample_rate)
        if i < len(out):
            wave = wave[: len(out) - i]
            out[i : i + len(wave)] += level * wave

    bars = int(samples / sample_rate / (4 * beat)) + 2
    for bar in range(bars):
        degree = progression[bar % 4]
        start = bar * 4 * beat
        chord = [
            root + 12 + major[(degree + s) % 7] + 12 * ((degree + s) // 7)
            for s in (0, 2, 4)
        ]
        for note in chord:
            add(tone(note, 4 * beat, 1.5), start, levels["chords"] / 3)
        for b in range(4):
            add(
                tone(root - 12 + major[degree], beat, 0.4),
                start + b * beat,
                levels["bass"],
            )
            add(
                drum("kick" if b % 2 == 0 else "snare"),
                start + b * beat,
                levels["drums"],
            )
        for e in range(8):
            add(drum("hat"), start + e * beat / 2, levels["drums"])
            if rng.random() < 0.7:  # rests keep the melody from droning
                note = root + 24 + major[rng.integers(7)]
                add(tone(note, beat / 2, 0.25), start + e * beat / 2, levels["melody"])
    offset = int(rng.integers(0, sample_rate))  # not always on a downbeat
    return _normalised(out[offset : offset + samples])


def _band(noise: np.ndarray, low: float, high: float, rate: int) -> np.ndarray:
    """`noise` with everything outside [low, high] Hz removed (circular)."""
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    return np.fft.irfft(spectrum, len(noise))


def clatter(
    samples: int, rng: np.random.Generator, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Impacts: Poisson times, each 1-4 damped resonances (300-6000 Hz, decay
    5-80 ms) and a 1-3 ms click, levels within 20 dB, peaks soft-limited to 5x
    the RMS (so a -20 dBFS file does not clip), over hiss 35 dB down.

    Returns:
        (samples,) float32 with RMS 1.
    """
    out = np.zeros(samples + rate)
    count = rng.poisson(rng.uniform(2, 10) * samples / rate)
    t = np.arange(int(0.4 * rate)) / rate
    for at in rng.integers(0, samples, count):
        hit = np.zeros_like(t)
        for _ in range(rng.integers(1, 5)):
            freq = np.exp(rng.uniform(np.log(300), np.log(6000)))
            decay = rng.uniform(0.005, 0.08)
            hit += (
                rng.uniform(0.3, 1)
                * np.sin(2 * math.pi * freq * t)
                * np.exp(-t / decay)
            )
        click = int(rng.uniform(0.001, 0.003) * rate)
        hit[:click] += rng.standard_normal(click)
        out[at : at + len(t)] += hit * 10 ** (rng.uniform(-20, 0) / 20)
    out = _normalised(out[:samples])
    out = 5 * np.tanh(out / 5)  # peaks soft-limited to 5x the RMS: no clipping
    return _normalised(out + 10 ** (-35 / 20) * rng.standard_normal(samples))


def alarms(
    samples: int, rng: np.random.Generator, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Signals one after another (1-6 s each, a little apart): beep trains,
    sirens (a tone swept up and down), two-tone rings and rising whistles,
    each with 1-4 harmonics, over pink noise 20 dB down.

    Returns:
        (samples,) float32 with RMS 1.
    """
    out = np.zeros(samples)
    at = 0
    while at < samples:
        n = min(int(rng.uniform(1, 6) * rate), samples - at)
        t = np.arange(n) / rate
        base = np.exp(rng.uniform(np.log(400), np.log(3000)))
        kind = rng.integers(4)
        if kind == 0:  # beeps
            period = rng.uniform(0.1, 0.8)
            gate = (t % period) < rng.uniform(0.3, 0.7) * period
            phase, level = 2 * math.pi * base * t, gate.astype(float)
        elif kind == 1:  # siren
            sweep = rng.uniform(0.2, 2.0)
            freq = base * (1 + 0.3 * np.sin(2 * math.pi * sweep * t))
            phase, level = 2 * math.pi * np.cumsum(freq) / rate, np.ones(n)
        elif kind == 2:  # ring: two tones alternating at ~20 Hz, bursts of 1-2 s
            freq = np.where((t * 20) % 1 < 0.5, base, base * 1.25)
            phase = 2 * math.pi * np.cumsum(freq) / rate
            level = ((t % 3.0) < rng.uniform(1, 2)).astype(float)
        else:  # whistle / kettle: a rising tone with breath
            freq = base * (1 + 0.5 * t / max(t[-1], 1e-3))
            phase = 2 * math.pi * np.cumsum(freq) / rate
            level = np.minimum(t / 0.5, 1.0)
        partials = sum(
            rng.uniform(0.2, 1) / k * np.sin(k * phase)
            for k in range(1, rng.integers(2, 6))
        )
        out[at : at + n] += partials * level * 10 ** (rng.uniform(-10, 0) / 20)
        at += n + int(rng.uniform(0, 1.5) * rate)
    out = _normalised(out)
    return _normalised(out + 0.1 * colored_noise("pink", samples, rng, rate))


def traffic(
    samples: int, rng: np.random.Generator, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A road: brown-noise rumble that swells as vehicles pass (one every 1-8
    s, 2-6 s each), engine harmonics at 25-120 Hz riding on the swells, and
    tyre hiss (band-passed 500-4000 Hz noise).

    Returns:
        (samples,) float32 with RMS 1.
    """
    t = np.arange(samples) / rate
    swell = np.full(samples, 0.2)
    engine = np.zeros(samples)
    at = -rng.uniform(0, 3)
    while at < t[-1] + 3:
        width = rng.uniform(2, 6) / 4
        bump = np.exp(-0.5 * ((t - at) / width) ** 2) * rng.uniform(0.3, 1)
        swell += bump
        f0 = rng.uniform(25, 120) * (1 + 0.1 * np.tanh((t - at) / width))
        phase = 2 * math.pi * np.cumsum(f0) / rate
        engine += bump * sum(np.sin(k * phase) / k for k in range(1, 6))
        at += rng.uniform(1, 8)
    rumble = colored_noise("brown", samples, rng, rate) * swell
    hiss = _band(rng.standard_normal(samples), 500, 4000, rate)
    hiss *= swell / max(np.sqrt(np.mean(hiss**2)), 1e-12)
    return _normalised(
        rumble + 0.5 * _normalised(engine) * swell + 0.3 * hiss * rng.uniform(0.3, 1)
    )


def machine(
    samples: int, rng: np.random.Generator, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A fan or appliance: noise under a random smooth spectral envelope (six
    random levels across log frequency, within 30 dB), a blade-pass tone at
    40-400 Hz with harmonics, and a slow 2-10 % wobble.

    Returns:
        (samples,) float32 with RMS 1.
    """
    spectrum = rng.standard_normal(samples // 2 + 1) + 1j * rng.standard_normal(
        samples // 2 + 1
    )
    freqs = np.maximum(np.fft.rfftfreq(samples, 1.0 / rate), _CORNER_HZ)
    knots = np.linspace(np.log(_CORNER_HZ), np.log(rate / 2), 6)
    shape_db = np.interp(np.log(freqs), knots, rng.uniform(-30, 0, 6))
    spectrum *= 10 ** (shape_db / 20)
    spectrum[0] = 0.0
    noise = _normalised(np.fft.irfft(spectrum, samples))
    t = np.arange(samples) / rate
    blade = rng.uniform(40, 400)
    tone = sum(
        rng.uniform(0.2, 1)
        / k
        * np.sin(2 * math.pi * k * blade * t + rng.uniform(0, 6.3))
        for k in range(1, 5)
    )
    wobble = 1 + rng.uniform(0.02, 0.1) * np.sin(2 * math.pi * rng.uniform(0.2, 2) * t)
    return _normalised((noise + rng.uniform(0.1, 0.5) * _normalised(tone)) * wobble)


GENERATORS = {  # the kinds drawn with (samples, rng) alone
    "clatter": clatter,
    "alarms": alarms,
    "traffic": traffic,
    "machine": machine,
    "music": music,
}
