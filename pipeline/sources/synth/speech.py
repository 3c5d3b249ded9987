"""Speech synthesis with eSpeak NG, called through ctypes, with phoneme events as timing truth.

The ``espeakng-loader`` wheel ships ``libespeak-ng.so`` and its voice data on PyPI; this module
loads that library at run time (eSpeak NG is GPL-3.0-or-later; it is called as a separate
library, never bundled or linked into this package). It runs in synchronous mode
(``AUDIO_OUTPUT_SYNCHRONOUS``) with phoneme events switched on (``espeakINITIALIZE_PHONEME_EVENTS``
and IPA phoneme names), so every phoneme arrives with the sample at which it starts.

The library keeps global state, so one :class:`ESpeak` exists per process (:func:`engine`)
and calls are serialised with a lock. That state also carries over from one utterance to the
next (the pitch "flutter" phase and the wave generator's phase move on), so the same text
spoken twice in one process gives slightly different samples and phoneme boundaries. To make
every utterance a pure function of its arguments, :meth:`ESpeak.synthesize` runs each
utterance in a forked child of a process whose library was initialised but has never spoken
(POSIX; about 2-10 ms per call). ``isolated=False`` speaks in-process instead.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Phoneme", "Speech", "Prosody", "ESpeak", "ESpeakError", "engine", "synthesize"]

# espeak_AUDIO_OUTPUT / init options / parameters / event types (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 0, 1, 5, 6, 7
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_STRESS_MARKS = "ˈˌ"


class ESpeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused a call; the message names the call."""


class _Event(ctypes.Structure):
    """``espeak_EVENT``; ``id`` is a union whose ``string[8]`` member holds phoneme names."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: IPA name as eSpeak NG prints it (stress marks kept), start/end in seconds."""

    phoneme: str
    start_s: float
    end_s: float

    @property
    def base(self) -> str:
        """The IPA symbol without stress marks."""
        return self.phoneme.strip(_STRESS_MARKS)

    @property
    def stressed(self) -> bool:
        return self.phoneme.startswith("ˈ")

    def shifted(self, offset_s: float) -> "Phoneme":
        return Phoneme(self.phoneme, self.start_s + offset_s, self.end_s + offset_s)

    def as_dict(self) -> dict:
        return {"phoneme": self.phoneme, "start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}


@dataclass(frozen=True)
class Prosody:
    """eSpeak NG parameters: ``rate`` words/min (80-450), ``pitch`` and ``pitch_range`` 0-100
    (50 is the voice's default), ``gain`` a linear factor applied to the waveform."""

    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    gain: float = 1.0

    def clamped(self) -> "Prosody":
        return Prosody(
            rate=int(np.clip(self.rate, 80, 450)),
            pitch=int(np.clip(self.pitch, 0, 99)),
            pitch_range=int(np.clip(self.pitch_range, 0, 99)),
            gain=float(max(self.gain, 0.0)),
        )


@dataclass
class Speech:
    """Synthesised speech: ``audio (N,)`` float32 in [-1, 1] at ``sample_rate`` Hz, and its phonemes."""

    audio: np.ndarray
    sample_rate: int
    phonemes: list[Phoneme] = field(default_factory=list)
    voice: str = ""

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate


class ESpeak:
    """The eSpeak NG library in synchronous mode. Use :func:`engine` (one per process)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ESpeakError("espeakng-loader is not installed (pip install espeakng-loader)") from exc
        lib_path = espeakng_loader.get_library_path()
        try:
            self._lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise ESpeakError(f"{lib_path}: cannot load libespeak-ng ({exc})") from exc
        data = espeakng_loader.get_data_path().encode()
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        )
        if rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed with {rate} (data folder {data.decode()})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._spoken = False

    def _on_synth(self, wav, n_samples, events) -> int:
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                name = bytes(ev.id).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append((ev.type, int(ev.sample), name))
            elif ev.type in (_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append((ev.type, int(ev.sample), ""))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str = "en-us", prosody: Prosody = Prosody(), isolated: bool = True) -> Speech:
        """Speak ``text`` with an eSpeak NG ``voice`` (e.g. ``"en-us+m3"``) and ``prosody``.

        Returns the waveform at the library's rate (22,050 Hz) and the phoneme timeline; a
        phoneme ends where the next one (or a pause, or the end of the message) starts.
        With ``isolated`` (default) the result depends on the arguments only (see the module
        docstring); without it, on everything this process has spoken before.
        """
        if isolated and hasattr(os, "fork"):
            with self._lock:
                if self._spoken:
                    raise ESpeakError("isolated synthesis needs an engine that has never spoken in-process")
                return _in_child(lambda: self._speak(text, voice, prosody))
        with self._lock:
            self._spoken = True
            return self._speak(text, voice, prosody)

    def _speak(self, text: str, voice: str, prosody: Prosody) -> Speech:
        p = prosody.clamped()
        # eSpeak NG draws noise (breathiness, frication) from libc's rand() and its own
        # generator; seed both so that the waveform does not depend on this process's history
        ctypes.CDLL(None).srand(0)
        if hasattr(self._lib, "espeak_ng_SetRandSeed"):
            self._lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        self._chunks, self._events = [], []
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ESpeakError(f"eSpeak NG has no voice {voice!r}")
        for param, value in ((_PARAM_RATE, p.rate), (_PARAM_PITCH, p.pitch), (_PARAM_RANGE, p.pitch_range), (_PARAM_VOLUME, 100)):
            self._lib.espeak_SetParameter(param, value, 0)
        blob = text.encode("utf-8") + b"\0"
        err = self._lib.espeak_Synth(blob, len(blob), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise ESpeakError(f"espeak_Synth failed with code {err} for {text!r}")
        self._lib.espeak_Synchronize()
        chunks, events = self._chunks, self._events
        self._chunks, self._events = [], []
        if not chunks:
            raise ESpeakError(f"eSpeak NG produced no audio for {text!r} with voice {voice!r}")
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        audio = _soft_limit(audio * p.gain)
        return Speech(audio=audio, sample_rate=self.sample_rate, phonemes=_timeline(events, audio.shape[0], self.sample_rate), voice=voice)


def _in_child(fn):
    """Run ``fn()`` in a forked child and return its (pickled) result; errors are re-raised here."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack
        code = 0
        try:
            os.close(rfd)
            try:
                payload = pickle.dumps((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - sent to the parent
                payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
            with os.fdopen(wfd, "wb") as fh:
                fh.write(payload)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as fh:
        payload = fh.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        raise ESpeakError(f"eSpeak NG child process died (wait status {status})")
    ok, value = pickle.loads(payload)
    if not ok:
        raise ESpeakError(value)
    return value


def _timeline(events: list[tuple[int, int, str]], n_samples: int, sr: int) -> list[Phoneme]:
    """Phoneme events -> phonemes with start/end; empty names (pauses) and message ends close a phoneme."""
    marks = sorted(((s, t, name) for t, s, name in events if t in (_EVENT_PHONEME, _EVENT_END, _EVENT_MSG_TERMINATED)), key=lambda e: e[0])
    out: list[Phoneme] = []
    for k, (start, typ, name) in enumerate(marks):
        if typ != _EVENT_PHONEME or not name.strip(_STRESS_MARKS):
            continue
        end = next((s for s, _, _ in marks[k + 1 :] if s > start), n_samples)
        out.append(Phoneme(name, start / sr, min(end, n_samples) / sr))
    return out


def _soft_limit(x: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """Leave samples below ``threshold`` untouched and compress peaks smoothly below 1.0."""
    a = np.abs(x)
    over = a > threshold
    if over.any():
        head = 1.0 - threshold
        x = x.copy()
        x[over] = np.sign(x[over]) * (threshold + head * np.tanh((a[over] - threshold) / head))
    return x.astype(np.float32)


_ENGINE: ESpeak | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> ESpeak:
    """The process-wide eSpeak NG instance (created on first use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = ESpeak()
        return _ENGINE


def synthesize(text: str, voice: str = "en-us", prosody: Prosody = Prosody()) -> Speech:
    """Shorthand for ``engine().synthesize(...)``."""
    return engine().synthesize(text, voice, prosody)
