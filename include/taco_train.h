/* TacoKit's plugin for other trainers: the shard stream and the topology losses of DESIGN.md §1 behind a
 * plain C interface, in libTacoTrain.so (`swift build -c release --product TacoTrain`). A PyTorch trainer
 * loads it with ctypes (python/taco_plugin.py; docs/plugin.md).
 *
 * Conventions
 *   - Every array is row-major (C order) and owned by the caller; the library copies into it.
 *   - Token features are (tokens x channels), one row per token, tokens in position-major order
 *     t = (k * gy + j) * gx + i. A channels-first feature map (C, z, y, x) must be permuted to
 *     (z, y, x, C) before it is flattened to (T, C).
 *   - Functions return 0 on success and -1 on failure (taco_stream_next: 1 / 0 / -1); taco_plugin_last_error()
 *     then says why, naming the file and subject at fault.
 *   - Indices are int32, values float32 unless stated.
 */
#ifndef TACO_TRAIN_H
#define TACO_TRAIN_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The interface version (1). */
int32_t taco_plugin_version(void);

/* The message of the calling thread's last failure ("" when none). Valid until that thread's next call. */
const char *taco_plugin_last_error(void);

/* ---- Stream -------------------------------------------------------------------------------------- */

typedef struct taco_stream taco_stream;

/* Opens a stream over a manifest (dataset.json, or its folder). options_json may be NULL or "{}"; keys:
 *   batch_size (2), seed (0), rank / world_size (default: $RANK / $WORLD_SIZE, else 0 / 1),
 *   roi ([96, 96, 96], x y z), token_stride (8), flips (true), rotations (true),
 *   intensity_scale ([0.9, 1.1]), intensity_shift ([-0.1, 0.1]), match_radius (mm; default one token spacing),
 *   max_pairs (6), shuffle_buffer (16), prefetch (4), threads (2), skip_corrupt (false),
 *   equal_batches (false: every rank then gets the same number of batches per epoch, as DDP needs),
 *   batch_step / batch_offset (1 / 0: give every step-th batch of the rank's epoch from the offset on, the share of one
 *   of batch_step DataLoader workers),
 *   epoch / batch (0 / 0: where to resume, as taco_stream_state gave it).
 * Returns NULL on failure. */
taco_stream *taco_stream_open(const char *manifest, const char *options_json);

/* What the current batch holds. */
typedef struct {
    int32_t samples;       /* subjects in the batch */
    int32_t roi[3];        /* crop size x, y, z: each view is (z, y, x) */
    int32_t tokens;        /* tokens per crop */
    int32_t token_grid[3]; /* tokens per axis x, y, z */
    int32_t pairs;         /* ordered subject pairs for the inter-instance loss */
    int32_t matches;       /* atlas matches over all pairs */
    int64_t epoch;         /* this batch's epoch and index in it */
    int64_t batch;
} taco_batch_info;

/* Moves to the next batch: 1 and *info filled; 0 at the end of the epoch (the next call starts the next
 * epoch); -1 on failure. */
int32_t taco_stream_next(taco_stream *stream, taco_batch_info *info);

/* The current batch's crops: float[samples][2][z][y][x] (view 0, then view 1 of each subject). */
int32_t taco_stream_images(taco_stream *stream, float *views);

/* The current batch's tokens; any pointer may be NULL. atlas_coords float[samples][tokens][3] (atlas RAS mm),
 * confidence float[samples][tokens], labels uint8[samples][tokens] (0 background, 1 CSF, 2 GM, 3 WM),
 * points float[samples][tokens][3] (each subject's own RAS mm of the token centre). */
int32_t taco_stream_tokens(taco_stream *stream, float *atlas_coords, float *confidence, uint8_t *labels, float *points);

/* The current batch's subject pairs: pairs int32[pairs][3] = (p, q, fallback) where fallback = 1 means no
 * trusted atlas matches (a flagged subject: match in feature space, taco_match_features); offsets
 * int32[pairs + 1] into matches int32[matches][2] = (token of p, token of q) and weights float[matches]. */
int32_t taco_stream_pairs(taco_stream *stream, int32_t *pairs, int32_t *offsets, int32_t *matches, float *weights);

/* The current batch as JSON (keys, shards, modalities, origins, orientations, intensity draws, warnings) into
 * buffer (NUL-terminated; fails when size is too small, the needed size then in the message). */
int32_t taco_stream_describe(taco_stream *stream, char *buffer, int64_t size);

/* Where the stream is: the epoch and batch index of the next batch (save them to resume). */
int32_t taco_stream_state(taco_stream *stream, int64_t *epoch, int64_t *batch);

/* Stops the background threads and frees the stream. */
void taco_stream_close(taco_stream *stream);

/* ---- Losses (docs/design.md §2) -------------------------------------------------------------------- */

/* Intra-instance cross-modal triplet L_ab + L_ba of one subject's two views (tokens x channels each), with
 * gradients for both. negatives_ab / negatives_ba: int32[tokens][k] (Neg(i) of each direction), or NULL to
 * draw them from seed. */
int32_t taco_loss_intra(const float *za, const float *zb, int32_t tokens, int32_t channels, int32_t k, float margin,
                        const int32_t *negatives_ab, const int32_t *negatives_ba, uint64_t seed,
                        float *value, float *grad_a, float *grad_b);

/* Inter-instance partial neighbourhood alignment L_pq: A (tokens_a x channels) = subject p's features,
 * B (tokens_b x channels) = subject q's; matches int32[match_count][2] (one-to-one), weights float[match_count]
 * or NULL (all 1). negatives int32[match_count][k] (the first |P(i)| of each row are used) or NULL to draw
 * them from seed. Gradient for B only. *used_matches (may be NULL): matches that had positives. */
int32_t taco_loss_inter(const float *a, int32_t tokens_a, const float *b, int32_t tokens_b, int32_t channels,
                        const int32_t *matches, const float *weights, int32_t match_count, int32_t k, float margin,
                        const int32_t *negatives, uint64_t seed, float *value, float *grad_b, int32_t *used_matches);

/* The same two losses in float64 (for checks against another implementation; the negatives drawn from a seed
 * are the same as the float32 functions draw). */
int32_t taco_loss_intra_f64(const double *za, const double *zb, int32_t tokens, int32_t channels, int32_t k, double margin,
                            const int32_t *negatives_ab, const int32_t *negatives_ba, uint64_t seed,
                            double *value, double *grad_a, double *grad_b);
int32_t taco_loss_inter_f64(const double *a, int32_t tokens_a, const double *b, int32_t tokens_b, int32_t channels,
                            const int32_t *matches, const double *weights, int32_t match_count, int32_t k, double margin,
                            const int32_t *negatives, uint64_t seed, double *value, double *grad_b, int32_t *used_matches);

/* Reconstruction: mean squared error of output against input (count values each), gradient for output. */
int32_t taco_loss_reconstruction(const float *output, const float *input, int64_t count, float *value, float *grad);

/* The fallback matches: mutual nearest neighbours of A's and B's rows under 1 - cos. matches needs room for
 * min(tokens_a, tokens_b) rows of 2; *count receives how many were found. */
int32_t taco_match_features(const float *a, int32_t tokens_a, const float *b, int32_t tokens_b, int32_t channels,
                            int32_t *matches, int32_t *count);

#ifdef __cplusplus
}
#endif
#endif
