"""The fixed prose of BENCHMARKS.md: what each benchmark measures and the analysis behind the numbers.

``bench.report`` puts these texts around the tables it renders from ``bench/results/full/*.json``.
Texts named ``*_ANALYSIS`` or ``*_EARLIER`` hold findings and numbers from investigations that
``make bench`` does not repeat (alternative settings, earlier code, isolated measurements);
they say so in the rendered file, and stay true when the tables change. Edit the prose here,
never in BENCHMARKS.md. Whole blocks measured by hand (their own commands and dates, rendered
whatever the results) are in ``bench.notes_by_hand`` and ``bench.notes_flame``.
"""

SHARED_MACHINE = (
    "The development machine is shared with other jobs: each row gives the load average (1 min) "
    "at the start and end of its benchmark; a load above the core count means the benchmark had "
    "less than the whole machine, so wall times are inflated. CPU seconds (all processes of a "
    "command) are the robust measure of work per core, and ratios are taken within one run."
)

THREADS = (
    "The model, fitting and training benchmarks use one torch thread per process (`threads: 1` in "
    "the plan): under load, two torch threads per process were up to 40x slower than one (OpenMP "
    "threads spinning against other processes: 22 s vs 0.56 s for the same small training step), "
    "and repeated runs still varied by up to 2x."
)

# ----------------------------------------------------------------------------- generated corpus
SYNTH_INTRO = (
    "What `build-dataset synth` produces and whether the Face Landmarker follows it (issue 4's "
    "quality bar). Each sample is generated from scratch with 2 workers (timed), then the project's "
    "`pipeline.landmarker.FaceLandmarker` runs in VIDEO mode on every decoded frame of every clip "
    "(`bench.bench_synth`). With 10 clips per actor every actor has all 8 emotions, both "
    "intensities and one statement/repetition pair."
)

SYNTH_MEASURES = (
    "Inner-lip opening: the detector's distance between landmarks 13 and 14 divided by its outer "
    "eye-corner distance (33-263), against the ground-truth `mouth_opening`. Brow height: the mean "
    "height of the middle and outer brow points (70, 63, 105, 46, 53, 52 and their mirrors) above "
    "the eye-corner line, divided by the eye-corner distance, against the ground-truth `brow_raise`; "
    "also with each actor's mean removed (face shapes differ between actors). Actors alternate "
    "between two photographs (docs/synth.md); the photos' resting lip and brow levels differ, so "
    "the correlations over all frames are taken over each photo's actors and the worst photo is "
    "shown (pooled over both photos, the brow r of a 24-clip seed-0 sample was 0.36, against 0.80 "
    "and 0.83 for the two photos apart)."
)

SYNTH_ANALYSIS = (
    "The brow correlation is limited by the other brow components the emotions use (`brow_furrow` "
    "for anger and disgust, `brow_inner_raise` for sadness and fear); the ground-truth `brow_raise` "
    "is the `brow_raise` component alone, as the contract defines it. Before the actors' shapes kept "
    "the photo's brow-to-eye height and eye distance (docs/synth.md), identity differences alone "
    "moved the pooled brow r to 0.815 (seed 0) and 0.738 (seed 1), with 0.89-0.90 per actor. In the "
    "test suite, the detector's 468 landmarks are also within a median of 8 px of the ground-truth "
    "vertices projected with the stored camera and head pose (measured 3.6 px, eye-corner distance "
    "141 px)."
)

SYNTH_WARP = (
    "Warp of one frame (actor 1, the triangles of the face and the rings around it; best of 5 "
    "interleaved rounds, one thread):"
)

SYNTH_SPEED = (
    "\"Full corpus\" extrapolates to 24 x 60 = 1,440 clips: the sample's CPU seconds per frame (all "
    "processes of each clip: the worker and its ffmpeg and eSpeak children, `RUSAGE_SELF + "
    "RUSAGE_CHILDREN`) times the full corpus's frames, divided by the 2 workers; in brackets the "
    "median clip's rate plus each worker's start-up counted once. This is the wall time on an "
    "otherwise idle 2-core machine, the generation being CPU-bound; the full corpus is **not run** "
    "by `make bench`. The wall-clock extrapolation (this run's wall time per frame) includes the "
    "other jobs' share of the machine."
)

SYNTH_EARLIER = (
    "The whole corpus generated in one run (section \"The full generated corpus\", same day, idle "
    "machine) took 16.8 min (16.2 min in an earlier run with demo head 1), less than these samples suggest: each worker's start-up (photo "
    "registration, models) and each actor's set-up weigh more in 60 clips, and this virtual machine's "
    "speed varies by about 25% between runs. The run above (generator 2) started on an otherwise idle machine; earlier runs of generator 1 on "
    "the shared machine gave 16.8-24 min from CPU time (CPU seconds per frame of identical work varied "
    "by 25% with the other jobs) and 37-47 min from wall time. The `make demo` corpus of the same day "
    "(120 clips, 12,185 frames, 2 workers, idle machine) took 122 s: about 24 min for the full corpus. "
    "Per frame, one worker alone (cProfile, 3 clips after warm-up) spends 14.5 ms CPU: 8.7 ms in Python "
    "(warp 6 ms of which `cv2.remap` 2.1 and ~1,000 `cv2.fillConvexPoly` 1.7, the mouth 0.7, the pipe to "
    "ffmpeg 1.3) and 5.8 ms in ffmpeg and eSpeak (libx264 `-preset ultrafast` about 5 ms; other x264 "
    "settings save under 0.5 ms). Two workers on the 2 vCPUs spend 17-20 ms per frame each."
)

# ----------------------------------------------------------------------------- fitting
FIT_INTRO = (
    "Landmark fitting (`pipeline.fitting`, docs/fitting.md) against the generated corpus's ground "
    "truth and on the real RAVDESS clip, with the build's own decode and landmarks stages in the same "
    "process (`bench/bench_fit.py`). The fitted front-facing mesh is compared with the true one "
    "(frame-weighted means); the landmarks with the true mesh projected through the true camera and "
    "head pose. The *oracle* run fits the true landmark positions (+1 px noise) instead of the "
    "detector's: it separates the fitter's own error from the detector's bias."
)

FIT_ANALYSIS = (
    "Where the vertex error comes from: MediaPipe's points on the rendered faces sit about 2.8% of "
    "the inter-ocular distance (IOD) from where the true mesh projects, and most of it (2.3-3.1% per "
    "clip, against 0.8-1.0% that changes from frame to frame) is a static offset per clip, largest at "
    "the upper lids and brows (about 6%), which a landmark fit cannot tell apart from another face "
    "shape or a held expression. Settings that let the shape follow the landmarks more closely make "
    "it worse (13.2 mm when the identity treats its sampled frames as 10 frames of evidence instead "
    "of 0.3; 5.5 mm with all 468 points; 4.25 mm with a Huber instead of a Geman-McClure loss). The "
    "overall face size is unobservable (pinned to the model's mean size) and the field of view is "
    "fixed: the fitted distance was 1.01 m for a true 0.99 m (camera 26 degrees, prior 25); with a "
    "Huber loss, a 15- or 40-degree prior gave 4.15 / 3.69 mm instead of 4.25 mm, and estimating the "
    "focal length per actor found 32-43 degrees (3.79 mm). The size alone (the \"Size\" line above, "
    "computed from the true shapes): over all 24 actors of the corpus it is 0.76 mm (seed 1) to "
    "0.91 mm (seed 0) on average, the actors being 0.96-1.02 times the mean size (std 1.5-1.7%, "
    "less than real adult faces vary). Demo head 2 (the template's midline lips level in depth, "
    "as every generated actor has them) moved these numbers from 3.39 to 3.30 mm (lips 3.64 to "
    "3.41, oracle 2.01 to 1.90); on 72-clip corpora of seeds 0 and 1 the same change gave "
    "3.27/3.26 -> 3.21/3.20 mm. Measured and left out: an identity basis that cannot change the "
    "inner-lip gaps (closed lips fitted 0.8 mm open instead of 4.1, but the whole face 3.70 mm "
    "instead of 3.26: size and position drift), and a correction of the detector's offset "
    "measured on another seed (3.39 -> 2.95 mm with demo head 1; the offset is this corpus's own, "
    "one photo warped onto every actor, and would be wrong on real video). docs/fitting.md keeps "
    "the current analysis of the fit's settings with its numbers."
)

FIT_CPU = "The HDF5 packaging is measured in \"Dataset build\"."

# ----------------------------------------------------------------------------- build
BUILD_INTRO = (
    "`build-dataset ravdess` end to end (decode -> landmarks -> identity -> fit -> smooth -> canonical "
    "-> qa -> report -> package) with the real back end (demo head, `pipeline.fitting`, `pipeline.qa`) "
    "on 1280x720 input: the real RAVDESS clip copied under RAVDESS names (`bench.bench_build`). Each "
    "build is a fresh command in a fresh output folder; CPU seconds are those of all its processes "
    "(`RUSAGE_CHILDREN`), peak RSS that of its largest process."
)

BUILD_STAGES = (
    "Time per stage, summed over clips and measured inside the workers, so decode+landmarks and the "
    "rest come from the same run (the 1-worker build):"
)

BUILD_ANALYSIS = (
    "Isolated CPU measurements of the same clip (quiet moments, `resource` CPU time): decode 5.0 ms "
    "CPU per 720p frame (9 ms before frames, audio and stream information came from a single ffmpeg "
    "process), the landmarker 11-15 ms CPU per frame (downscaling to 640 px wide saves only ~1 ms and "
    "moves landmarks by 0.3% of the inter-ocular distance, so frames are detected at full size), "
    "worker start-up (torch, mediapipe, landmarker, demo head) 3 s CPU."
)

BUILD_CORPUS_INTRO = (
    "`build-dataset ravdess` end to end on a generated corpus (`build-dataset synth`, seed 0): 1280x720 "
    "clips of 3-4 s with a lead-in silence, like RAVDESS's, every actor a different face, so per-clip costs "
    "weigh as in the real set (the 1 s copies of \"Scaling\" weigh them about 3.5x more). Built from scratch "
    "with 1 and then 2 workers in fresh folders, in the same run; the full-RAVDESS column scales this "
    "run's frames per wall second to about 160,000 frames. The after-landmarks share in brackets spreads "
    "each identity fit over 60 clips per actor, as in RAVDESS."
)

BUILD_CORPUS_ANALYSIS = (
    "This section and \"Scaling\" were run on an otherwise idle machine on 2026-11-29 (the load "
    "figures count the build's own processes and MediaPipe's threads). A 1-worker build uses about 1.17 "
    "cores (MediaPipe's inference threads spill onto the idle second core), so 1 -> 2 workers gains a "
    "little under or over 2x: 2.04x here, 1.99x for 1,000 clips of 1 s, 1.71x for 100. The full-set figure "
    "is an extrapolation, not a run (RAVDESS cannot be downloaded here), and the estimates disagree "
    "around the 30-minute goal: 27 min from these RAVDESS-length clips, 35 min from the 1,000 clips of "
    "1 s (whose per-clip costs weigh 3.5x more per frame), 36 min from the `make demo` build of the same "
    "day (120 generated clips, 12,185 frames, 166 s with its QA report and packaging). The full generated "
    "corpus built in one run (section \"The full generated corpus\": 1,440 clips, 147,234 frames, 25.6 min, "
    "27.8 min scaled to 160,000 frames; 26.8 min in an earlier run) is the measurement closest to the real "
    "set: the goal is met there, narrowly."
)

FULL_CORPUS_INTRO = (
    "The full-size claims of the issues, run rather than extrapolated: `build-dataset synth` writes the "
    "whole 24-actor corpus (1,440 clips, the RAVDESS speech set's names) with 2 workers, then "
    "`build-dataset ravdess` builds it with 2 workers into the paper split (actors 01-20 / 21-22 / 23-24), "
    "QA report included; each split is checked with `emoface validate`'s checks. The generated clips are "
    "a little shorter than RAVDESS's (about 100 frames against 111), so the build's time is also scaled to "
    "160,000 frames."
)

SCALING_BUILD = (
    "Copies of the 1 s, 1280x720 test clip (30 frames), 60 per actor as in RAVDESS, so that each "
    "actor's identity fit is spread over as many clips as in the real set; every build from scratch "
    "in a fresh folder (`bench.bench_scaling`). Short clips weigh the per-clip costs (an ffmpeg start, "
    "sidecars, a QA thumbnail) about 3.5x more per frame than RAVDESS's ~3.7 s clips. Stage times "
    "are measured inside the workers, so with 2 workers on 2 shared cores they include waiting for "
    "the CPU: the after-landmarks share is best read from the 1-worker rows. The no-op rerun repeats "
    "the command on the finished 2-worker build."
)

SCALING_TRAIN = (
    "Training step of the small preset at V = 468 (`bench.bench_train`: the self-growing two-stage "
    "pass at p_gt = 0.5 on a pair of clips of T and T + 7 frames; forward, loss, backward, Adam), "
    "one fresh process per row."
)

# ----------------------------------------------------------------------------- model and training
TRAIN_INTRO = (
    "One step = the self-growing two-stage pass at p_gt = 0.5 on one pair of clips of 110 and 117 "
    "frames (3D-RAVDESS clips average ~111 frames): encoders, both targets (self and cross), stage 1 "
    "+ stage 2, loss, backward, Adam. Mean of the timed steps after a warm-up, each configuration in "
    "a fresh process. Peak RSS is the process's resident-set high-water mark during the steps; "
    "\"RSS before\" is after the model, optimiser state and warm-up step exist. V = 468 is the demo "
    "head; V = 5023 the FLAME-sized synthetic model (`tools.testing.synthetic.synthetic_model()`). Encoders "
    "are randomly initialised (pretrained weights do not change the cost)."
)

TRAIN_ANALYSIS = (
    "EmoFace runs two encoders (the content encoder twice when the two clips differ in length), two "
    "decoders and Mesh Attention per target; the single branch one encoder and one decoder. At V = "
    "5023 Mesh Attention dominates (the paper's stated limitation): before the exact separable first "
    "layer (docs/model.md 1.5) the small V = 5023 step took 9.0 s in a run at lower load (22.5 s in "
    "the first, loaded run), with it 3.9 s (2026-11-29); its remaining cost is the (T + 2) x 5023 x 9 "
    "gather of the second SpiralConv3D layer. The paper preset's cost on a CPU is the two base-size "
    "wav2vec2 encoders (190 M parameters)."
)

INFER_INTRO = (
    "`model.generate` (encoders, Mesh Attention, autoregressive decoding, no gradients) on random "
    "audio (`bench.bench_inference`); RTF = compute seconds / audio seconds (< 1 is faster than real "
    "time). \"cached\" decodes one token per step against stored keys/values; \"uncached\" re-decodes "
    "the whole prefix every step (FaceFormer's `predict` loop), building masks of the prefix length. "
    "Both give the same meshes to 1e-5 (tests). An uncached run whose estimated time exceeds the "
    "plan's limit is skipped; the estimate (cached time plus the shortest run's extra uncached time "
    "scaled by T^2) is a lower bound, the attention part being cubic."
)

INFER_ANALYSIS = (
    "Paper-preset inference on a CPU is dominated by the two base-size wav2vec2 encoders (their CNNs "
    "alone are ~0.3 TFLOP for 60 s of audio); 60 s at V = 5023 also exercises the time-chunked Mesh "
    "Attention (B x V x T x C above 2^26). The paper-preset 60 s cached run took 65.8 s in a run at "
    "lower load and 128.8 s at higher load (2026-11-29)."
)

SMALL_INTRO = (
    "`emoface train --config configs/emoface-small.yaml --data DIR --set train.threads=1` on the "
    "test-fixture corpus `tools.testing.fixtures.write_synthetic_splits(DIR)` (demo-head topology, "
    "V = 468; train: 3 actors, clips of ~45 frames; val: 1 unseen actor; the audio envelope drives "
    "the jaw, each emotion adds an offset field scaled by the intensity), theta 5, lr 1e-3 "
    "(`bench.bench_small_training`). Validation is autoregressive from the ground-truth first frame "
    "with the emotion from the audio only (the paper's protocol); the unseen validation actor is "
    "conditioned on training speaker 0. LVE/EVE in units of 1e-5 m^2 (the paper's scale); the "
    "template-only floor is the error of predicting the template."
)

SMALL_ANALYSIS = (
    "The validation LVE is noisy in the prediction-only phase (an earlier EmoFace run, epochs 20-30: "
    "0.19-0.76), so the best and the last epoch differ; an EmoFace run before the separable first "
    "layer of Mesh Attention changed the float rounding reached 0.162. On this fixture the single branch is at "
    "least as good: the emotion offsets of an unseen actor are only weakly identifiable from the "
    "audio (emotion changes the tone's pitch, which also differs by actor), so EVE stays near the "
    "floor for both. The fixture checks that the trainer learns; it does not test the paper's "
    "claims."
)

LEVERS_ANALYSIS = (
    "Measured 2026-12-06/07 on 8 actors x 5 clips per photo, seed 0 (docs/fitting.md, \"Levers measured\"). "
    "Kept as the defaults: `prior.expression_std` 0.5 (was 1.0), `landmarks.weights.other` 0.3 (was 0.1) and "
    "`identity.expression_reference` median (was none: the actor's template holds the median of its frames' "
    "fitted expressions, the truth's template its true one). With all three, tuning photo: lips 2.54 -> 2.26 mm, "
    "dynamic lips 1.56 -> 1.49, eye region 0.58 -> 0.38, recognisability 0.68 -> 0.88, mouth r 0.982 "
    "unchanged; held-out photo (Grace Hopper): lips 3.06 -> 2.84, dynamic lips 1.59 -> 1.55, eye region "
    "1.17 -> 0.58, recognisability 0.35 -> 0.75, mouth r 0.974 -> 0.977. Of the issue's goals from the "
    "detector's landmarks (lips <= 1.2 mm, eye region <= 0.30 mm, dynamic lips <= 1.0 mm, recognisability "
    ">= 0.85) the tuning photo meets recognisability; the held-out photo meets none, and is within 10% of "
    "the tuning photo on none of them (eye region 0.58 against 0.38 mm, recognisability 0.75 against 0.88; "
    "its oracle is as good). With the true landmark positions the kept settings meet all four (0.71, 0.10, "
    "0.34, 0.95). The gap is largely not missing information: a ridge map from the detector's 468 points to the "
    "true offsets, learnt against the truth (bench.bench_landmark_floor), reaches lips 1.07 mm, dynamic "
    "0.82, eye region 0.30 on the tuning photo and 1.33, 1.09, 0.49 on the held-out one; the points are "
    "displaced in a way a per-point fit reads as expression, and undoing that needs the per-corpus "
    "correction the issue rules out. With the true identity and "
    "camera under the detector's points the fit is worse, not better (bench.bench_true_identity). The "
    "optical-flow term (built, opt-in) recovers 0.1 mm of dynamic lip motion and breaks the time goal (82% "
    "after landmarks); the Kalman/RTS smoother and the number of identity frames change nothing measurable; "
    "the robust scale, the brows and the face oval trade one region against another. The detector's "
    "blendshape scores as observations (built, opt-in), up to weight 3, leave the eye region where it is on "
    "both faces, move the lips in opposite directions on the two with every row (by at most 0.07 mm with "
    "the upper-face rows only) and lower the held-out photo's recognisability with every setting (0.75 -> "
    "0.57-0.72)."
)


MEASURES_ANALYSIS = (
    "Issue 15's goals at its size (2 seeds x 24 actors x 5 clips, 12 actors per photo; means of the two seeds, "
    "fitted from the detector's landmarks, astronaut / Grace Hopper; the default reference expression, the truth's "
    "templates in the same convention). Emotion recognisability >= 0.85 on each photo: 0.81 / 0.82 (truth 0.94 / "
    "0.97; both photos pooled 0.76, truth 0.90): **not met**. Lip offset error <= 1.2 mm: 2.10 / 3.04 (oracle "
    "0.84 / 0.94): **not met**. Eye-region offset error <= 0.30 mm: 0.32 / 0.66 (oracle 0.10 / 0.12): **not met**. "
    "Dynamic lip offset error <= 1.0 mm: 1.47 / 1.63 (oracle 0.35 / 0.34): **not met**. Mouth-opening r >= 0.97: "
    "0.978-0.979, met. Held-out photo within 10% of the tuning photo: recognisability yes (0.82 against 0.81); "
    "offsets no (lips 3.04 against 2.10 mm, eye region 0.66 against 0.32; equal oracles). The same command the "
    "day before, without the reference expression (zero-expression templates on both sides): recognisability "
    "0.68 / 0.61, pooled 0.39 (truth 0.96 / 1.00, pooled 0.93); lips 2.36 / 2.82 mm; eye region 0.47 / 1.27 mm; "
    "dynamic lips 1.47 / 1.63 mm. The reference expression doubles the emotion that survives across actors of "
    "different faces (pooled 0.39 -> 0.76), gains 0.13 and 0.21 within a photo, and halves the eye-region error "
    "of the face with glasses (1.27 -> 0.66 mm); it cannot change the dynamic part (the meshes are the same), and "
    "Grace Hopper's lip offsets get worse (2.82 -> 3.04 mm). What no lever recovers is the detector's error that "
    "changes with the expression itself: with the true identity and camera under the detector's points the fit is "
    "no better (docs/fitting.md, \"A floor of landmark-only fits\"), while the oracle meets every goal. That error "
    "is largely a distortion, not missing information: a map from the detector's points learnt against the truth "
    "(`bench.bench_landmark_floor`, this size, learnt on the other actors of the same photo) is within the lip goals "
    "on each photo (lips 0.93-0.96 mm, dynamic 0.72-0.80) and the eye-region goal on the astronaut's (0.19 mm; Grace "
    "Hopper's 0.33-0.35), learnt on one photo and applied to the other at lips 1.37-1.38 mm (docs/fitting.md, "
    "\"What the detector's points hold\"): a correction the issue rules out for the build. Where the lips' static "
    "error is (the split table above): mostly in what all of an actor's clips share, 1.35-2.40 of 1.47-2.52 mm, the "
    "same in every emotion (an error of the actor's template, or a bias the fit makes in every clip alike; with 5 "
    "clips per actor the common part also holds a fifth of the per-clip error's variance, a small share here); what "
    "varies between an actor's clips, where the emotions are, is 0.52-0.60 mm against the truth's 0.92-1.06 (oracle "
    "0.10-0.11). The truth's own held lip expression is mostly common too (2.56-3.07 of 2.82-3.31 mm): against the "
    "actor's template (its median expression with the jaw closed) the clips' mean has the lower lip lower and "
    "further back, the jaw's average opening over a clip (the direction checked on the truth of the 8-actor "
    "corpora of \"Fit levers\"; the results here hold magnitudes only). By axis (the results' `static_split`, RMS "
    "of the common part over the lip vertices): the fit's common lip error is vertical and in depth, 1.01-1.26 and "
    "1.21-1.32 mm on the astronaut's actors, 2.22-2.24 and 2.03-2.10 on Grace Hopper's, against the truth's common "
    "2.63-3.28 and 1.58-2.13 (the fit's horizontal 0.26-0.44, the truth's 0.13-0.22; the oracle's vertical and "
    "depth 0.74-1.02 and 0.47-0.73): an error of 38-45% of the truth's vertical part on the astronaut's actors and "
    "68-72% on Grace Hopper's, and of 76-78% and 95-103% of the depth part, which a frontal view does not show. The "
    "lips' dynamic error alone (1.46-1.65 mm) is above the 1.2 mm goal as well. The eye region's per-clip part, the "
    "emotion in it, is 0.22-0.26 mm against 0.45-0.50 on the astronaut's actors, 0.57-0.59 against 0.74-0.78 on "
    "Grace Hopper's: on the face with glasses the fit keeps little of it."
)
