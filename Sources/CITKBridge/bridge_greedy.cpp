// TacoKit's deformable registration: greedy compositive updates on local normalised cross-correlation.
//
// Per iteration on a level's grid: warp the moving image through the affine and the current field u,
// compute the local NCC of fixed and warped images and its exact gradient with running box sums (two
// passes of separable sums, cost independent of the window radius), turn it into a force along the warped
// image's gradient, smooth it (update sigma), scale it so its largest displacement is `step` voxels,
// compose it (u <- v + u o (id + v)) and smooth the total field. Levels run coarse to fine; the field is
// carried between grids by linear interpolation. Everything is plain loops over float arrays, split into
// slabs of whole planes or rows, so each voxel is computed by exactly one thread with the same arithmetic
// whatever the thread count; sums that cross slabs are kept per plane and added in order.
#include "bridge_internal.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

using namespace taco;

namespace {

/** A level's grid: sizes, index -> LPS point (P = direction * spacing, origin), and P's inverse. */
struct Grid {
    size_t n[3] = {1, 1, 1};
    double P[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    double Pinv[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    double origin[3] = {0, 0, 0};

    size_t count() const { return n[0] * n[1] * n[2]; }
    size_t plane() const { return n[0] * n[1]; }
};

void invert3(const double m[9], double out[9]) {
    const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (std::fabs(det) < 1e-300) fail(TACO_ERR_INVALID_ARGUMENT, "singular grid or transform");
    out[0] = (m[4] * m[8] - m[5] * m[7]) / det;
    out[1] = (m[2] * m[7] - m[1] * m[8]) / det;
    out[2] = (m[1] * m[5] - m[2] * m[4]) / det;
    out[3] = (m[5] * m[6] - m[3] * m[8]) / det;
    out[4] = (m[0] * m[8] - m[2] * m[6]) / det;
    out[5] = (m[2] * m[3] - m[0] * m[5]) / det;
    out[6] = (m[3] * m[7] - m[4] * m[6]) / det;
    out[7] = (m[1] * m[6] - m[0] * m[7]) / det;
    out[8] = (m[0] * m[4] - m[1] * m[3]) / det;
}

void multiply3(const double a[9], const double b[9], double out[9]) {
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) out[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
}

Grid grid_of(const taco_geometry &g) {
    Grid grid;
    for (int i = 0; i < 3; ++i) {
        grid.n[i] = g.size[i];
        grid.origin[i] = g.origin[i];
        for (int j = 0; j < 3; ++j) grid.P[3 * i + j] = g.direction[3 * i + j] * g.spacing[j];
    }
    invert3(grid.P, grid.Pinv);
    return grid;
}

/** The grid of `g` shrunk by `f`, as ITK's shrink filter places it: voxel i' sits at index f i' + (f - 1) / 2. */
Grid shrunk(const Grid &g, uint32_t f) {
    Grid out = g;
    for (int i = 0; i < 3; ++i) out.n[i] = std::max<size_t>(1, g.n[i] / f);
    for (int i = 0; i < 9; ++i) out.P[i] = g.P[i] * f;
    const double c = (f - 1) / 2.0;
    for (int i = 0; i < 3; ++i) out.origin[i] = g.origin[i] + c * (g.P[3 * i] + g.P[3 * i + 1] + g.P[3 * i + 2]);
    invert3(out.P, out.Pinv);
    return out;
}

/** Runs body(begin, end) over [0, n) in `threads` contiguous parts. */
template <class Body> void parallel(size_t n, unsigned threads, const Body &body) {
    const size_t parts = std::min<size_t>(std::max(1u, threads), n);
    if (parts <= 1) {
        if (n > 0) body(size_t(0), n);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(parts - 1);
    for (size_t p = 1; p < parts; ++p) pool.emplace_back([&, p] { body(n * p / parts, n * (p + 1) / parts); });
    body(0, n / parts);
    for (auto &t : pool) t.join();
}

inline size_t clamp_index(long i, size_t n) { return static_cast<size_t>(std::min<long>(std::max<long>(i, 0), long(n) - 1)); }

/**
 * The interpolation cell of continuous index (x, y, z) clamped to the grid, for `components` interleaved
 * channels: the offset of its low corner, the steps to the next voxel along each axis (0 on a one-voxel
 * axis) and the fractions.
 */
struct Cell {
    size_t base, dx, dy, dz;
    float fx, fy, fz;

    Cell(const Grid &g, double x, double y, double z, size_t components) {
        x = std::min(std::max(x, 0.0), double(g.n[0] - 1));
        y = std::min(std::max(y, 0.0), double(g.n[1] - 1));
        z = std::min(std::max(z, 0.0), double(g.n[2] - 1));
        const size_t x0 = std::min<size_t>(size_t(x), g.n[0] > 1 ? g.n[0] - 2 : 0);
        const size_t y0 = std::min<size_t>(size_t(y), g.n[1] > 1 ? g.n[1] - 2 : 0);
        const size_t z0 = std::min<size_t>(size_t(z), g.n[2] > 1 ? g.n[2] - 2 : 0);
        dx = g.n[0] > 1 ? components : 0;
        dy = g.n[1] > 1 ? components * g.n[0] : 0;
        dz = g.n[2] > 1 ? components * g.plane() : 0;
        fx = float(x - x0);
        fy = float(y - y0);
        fz = float(z - z0);
        base = components * ((z0 * g.n[1] + y0) * g.n[0] + x0);
    }

    /** The trilinear value of the channel whose low-corner value is at p. */
    float value(const float *p) const {
        const float c00 = p[0] + fx * (p[dx] - p[0]);
        const float c01 = p[dy] + fx * (p[dy + dx] - p[dy]);
        const float c10 = p[dz] + fx * (p[dz + dx] - p[dz]);
        const float c11 = p[dz + dy] + fx * (p[dz + dy + dx] - p[dz + dy]);
        const float c0 = c00 + fy * (c01 - c00), c1 = c10 + fy * (c11 - c10);
        return c0 + fz * (c1 - c0);
    }
};

/** Trilinear interpolation of a scalar image at continuous index (x, y, z); `outside` beyond the border. */
inline float sample(const float *image, const Grid &g, double x, double y, double z, float outside) {
    if (!(x >= -0.5 && y >= -0.5 && z >= -0.5 && x <= g.n[0] - 0.5 && y <= g.n[1] - 0.5 && z <= g.n[2] - 0.5)) return outside;
    const Cell cell(g, x, y, z, 1);
    return cell.value(image + cell.base);
}

/** Trilinear interpolation of a 3-vector field (interleaved) at a continuous index, clamped to the grid. */
inline void sample_vector(const float *field, const Grid &g, double x, double y, double z, float out[3]) {
    const Cell cell(g, x, y, z, 3);
    for (int c = 0; c < 3; ++c) out[c] = cell.value(field + cell.base + c);
}

/** A normalised Gaussian kernel of `sigma` voxels, truncated at 3 sigma. */
std::vector<float> gaussian_kernel(double sigma) {
    const int r = std::max(1, int(std::ceil(3 * sigma)));
    std::vector<double> w(2 * r + 1);
    double sum = 0;
    for (int i = -r; i <= r; ++i) sum += w[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
    std::vector<float> out(w.size());
    for (size_t i = 0; i < w.size(); ++i) out[i] = float(w[i] / sum);
    return out;
}

/**
 * Convolves `components` interleaved channels along `axis` with `kernel`, replicating the border voxel
 * (a constant field stays constant). Slabs of output planes; every output value is one thread's.
 */
void convolve_axis(const float *in, float *out, const Grid &g, unsigned components, int axis, const std::vector<float> &kernel,
                   unsigned threads) {
    const long r = long(kernel.size() / 2);
    const size_t nx = g.n[0], ny = g.n[1], nz = g.n[2], row = nx * components, plane = ny * row;
    parallel(nz, threads, [&](size_t z0, size_t z1) {
        std::vector<float> acc(row);
        for (size_t z = z0; z < z1; ++z) {
            for (size_t y = 0; y < ny; ++y) {
                float *o = out + z * plane + y * row;
                if (axis == 0) {
                    const float *line = in + z * plane + y * row;
                    for (size_t x = 0; x < nx; ++x)
                        for (unsigned c = 0; c < components; ++c) {
                            float s = 0;
                            for (long k = -r; k <= r; ++k) s += kernel[k + r] * line[clamp_index(long(x) + k, nx) * components + c];
                            o[x * components + c] = s;
                        }
                } else {
                    std::fill(acc.begin(), acc.end(), 0.0f);
                    for (long k = -r; k <= r; ++k) {
                        const float w = kernel[k + r];
                        const float *src = axis == 1 ? in + z * plane + clamp_index(long(y) + k, ny) * row
                                                     : in + clamp_index(long(z) + k, nz) * plane + y * row;
                        for (size_t i = 0; i < row; ++i) acc[i] += w * src[i];
                    }
                    std::copy(acc.begin(), acc.end(), o);
                }
            }
        }
    });
}

/** Gaussian smoothing of `components` interleaved channels in place, sigma per axis in voxels (<= 0: none). */
void smooth(std::vector<float> &data, const Grid &g, unsigned components, const double sigma[3], unsigned threads) {
    std::vector<float> scratch(data.size());
    for (int axis = 0; axis < 3; ++axis) {
        if (sigma[axis] <= 0 || g.n[axis] < 2) continue;
        convolve_axis(data.data(), scratch.data(), g, components, axis, gaussian_kernel(sigma[axis]), threads);
        data.swap(scratch);
    }
}

/**
 * Sums of `in` over (2r+1)^3 windows clipped to the grid, by running sums along each axis (double
 * accumulators, so the cost and the rounding do not grow with r). `scratch` has the size of `in`.
 */
void box_sum(const float *in, float *out, float *scratch, const Grid &g, long r, unsigned threads) {
    const size_t nx = g.n[0], ny = g.n[1], nz = g.n[2], plane = nx * ny;
    // x: per row.
    parallel(nz, threads, [&](size_t z0, size_t z1) {
        for (size_t z = z0; z < z1; ++z)
            for (size_t y = 0; y < ny; ++y) {
                const float *line = in + z * plane + y * nx;
                float *o = scratch + z * plane + y * nx;
                double s = 0;
                for (long x = 0; x <= std::min<long>(r, long(nx) - 1); ++x) s += line[x];
                for (long x = 0; x < long(nx); ++x) {
                    o[x] = float(s);
                    if (x + r + 1 < long(nx)) s += line[x + r + 1];
                    if (x - r >= 0) s -= line[x - r];
                }
            }
    });
    // y: per plane, rows at once.
    parallel(nz, threads, [&](size_t z0, size_t z1) {
        std::vector<double> acc(nx);
        for (size_t z = z0; z < z1; ++z) {
            const float *p = scratch + z * plane;
            float *o = out + z * plane;
            std::fill(acc.begin(), acc.end(), 0.0);
            for (long y = 0; y <= std::min<long>(r, long(ny) - 1); ++y)
                for (size_t x = 0; x < nx; ++x) acc[x] += p[y * nx + x];
            for (long y = 0; y < long(ny); ++y) {
                for (size_t x = 0; x < nx; ++x) o[y * nx + x] = float(acc[x]);
                if (y + r + 1 < long(ny)) for (size_t x = 0; x < nx; ++x) acc[x] += p[(y + r + 1) * nx + x];
                if (y - r >= 0) for (size_t x = 0; x < nx; ++x) acc[x] -= p[(y - r) * nx + x];
            }
        }
    });
    // z: per block of rows, planes in sequence.
    parallel(ny, threads, [&](size_t y0, size_t y1) {
        const size_t width = (y1 - y0) * nx;
        std::vector<double> acc(width, 0.0);
        auto add = [&](long z, double sign) {
            const float *p = out + size_t(z) * plane + y0 * nx;
            for (size_t i = 0; i < width; ++i) acc[i] += sign * p[i];
        };
        for (long z = 0; z <= std::min<long>(r, long(nz) - 1); ++z) add(z, 1);
        for (long z = 0; z < long(nz); ++z) {
            float *o = scratch + size_t(z) * plane + y0 * nx;
            for (size_t i = 0; i < width; ++i) o[i] = float(acc[i]);
            if (z + r + 1 < long(nz)) add(z + r + 1, 1);
            if (z - r >= 0) add(z - r, -1);
        }
    });
    std::copy(scratch, scratch + g.count(), out);
}

/** Voxels of a (2r+1) window centred at i that lie inside [0, n). */
inline float window_count(size_t i, size_t n, long r) {
    return float(std::min<long>(long(i) + r, long(n) - 1) - std::max<long>(long(i) - r, 0) + 1);
}

/** Mean and standard deviation of `values` (where `mask` is non-zero, or everywhere). */
void moments(const float *values, const float *mask, size_t n, double &mean, double &deviation) {
    double s = 0, ss = 0, count = 0;
    for (size_t i = 0; i < n; ++i)
        if (!mask || mask[i] > 0) { s += values[i]; ss += double(values[i]) * values[i]; count += 1; }
    mean = count > 0 ? s / count : 0;
    deviation = count > 1 ? std::sqrt(std::max(0.0, ss / count - mean * mean)) : 1;
    if (!(deviation > 0)) deviation = 1;
}

/** The working state of one level. */
struct Level {
    Grid grid;
    std::vector<float> fixed, mask, moving_warped, sum_f, sum_ff;
};

class Greedy {
  public:
    Greedy(const taco_image_view &fixed, const taco_image_view &moving, const double *initial, const taco_greedy_options &o)
        : o_(o), threads_(o.threads ? o.threads : std::max(1u, taco_get_threads())), fixed_grid_(grid_of(*fixed.geometry)),
          moving_grid_(grid_of(*moving.geometry)) {
        const size_t nf = fixed_grid_.count(), nm = moving_grid_.count();
        fixed_.assign(fixed.voxels, fixed.voxels + nf);
        if (fixed.mask) fixed_mask_.assign(fixed.mask, fixed.mask + nf);
        moving_.assign(moving.voxels, moving.voxels + nm);
        // NCC ignores scale and shift; standardising keeps the box sums' cancellations small.
        double mean, deviation;
        moments(fixed_.data(), fixed.mask, nf, mean, deviation);
        for (auto &v : fixed_) v = float((v - mean) / deviation);
        moments(moving_.data(), nullptr, nm, mean, deviation);
        for (auto &v : moving_) v = float((v - mean) / deviation);
        moving_outside_ = nm ? *std::min_element(moving_.begin(), moving_.end()) : 0.0f;
        double A[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, t[3] = {0, 0, 0};
        if (initial)
            for (int i = 0; i < 3; ++i) {
                for (int j = 0; j < 3; ++j) A[3 * i + j] = initial[4 * i + j];
                t[i] = initial[4 * i + 3];
            }
        // Moving continuous index of a fixed point q: G q + g, G = Pm^-1 A, g = Pm^-1 (t - om).
        multiply3(moving_grid_.Pinv, A, G_);
        for (int i = 0; i < 3; ++i) {
            g_[i] = 0;
            for (int j = 0; j < 3; ++j) g_[i] += moving_grid_.Pinv[3 * i + j] * (t[j] - moving_grid_.origin[j]);
        }
    }

    void run(float *forward, float *inverse, taco_greedy_result &result) {
        std::vector<float> u;
        Grid previous;
        uint32_t used = 0;
        double metric = 0;
        for (uint32_t l = 0; l < o_.levels; ++l) {
            Level level = make_level(o_.shrink[l], o_.smoothing_mm[l]);
            u = l == 0 ? std::vector<float>(3 * level.grid.count(), 0.0f) : resample_field(u, previous, level.grid);
            std::vector<float> moving = smoothed_moving(o_.smoothing_mm[l]);
            std::vector<double> history;
            for (uint32_t it = 0; it < o_.iterations[l]; ++it) {
                metric = iterate(level, moving, u);
                ++used;
                history.push_back(metric);
                if (o_.convergence > 0 && history.size() > 10 && metric - history[history.size() - 11] < o_.convergence) break;
            }
            if (o_.iterations[l] == 0 || l + 1 == o_.levels) metric = evaluate(level, moving, u);
            previous = level.grid;
        }
        std::copy(u.begin(), u.end(), forward);
        result.metric = metric;
        result.iterations = used;
        result.inverse_residual_mm = 0;
        if (inverse) result.inverse_residual_mm = invert(u, previous, inverse);
    }

  private:
    taco_greedy_options o_;
    unsigned threads_;
    Grid fixed_grid_, moving_grid_;
    std::vector<float> fixed_, fixed_mask_, moving_;
    /** What the standardised moving image is taken to be outside its grid: its minimum (the background). */
    float moving_outside_ = 0;
    double G_[9], g_[3];

    /** The fixed image smoothed and sampled on the level's grid, with its mask and the fixed window sums. */
    Level make_level(uint32_t shrink, double sigma_mm) {
        Level level;
        level.grid = shrink > 1 ? shrunk(fixed_grid_, shrink) : fixed_grid_;
        std::vector<float> source = fixed_;
        if (sigma_mm > 0) {
            double sigma[3];
            for (int a = 0; a < 3; ++a) sigma[a] = sigma_mm / std::sqrt(fixed_grid_.P[a] * fixed_grid_.P[a] + fixed_grid_.P[3 + a] * fixed_grid_.P[3 + a] +
                                                                        fixed_grid_.P[6 + a] * fixed_grid_.P[6 + a]);
            smooth(source, fixed_grid_, 1, sigma, threads_);
        }
        const Grid &lg = level.grid;
        const size_t n = lg.count();
        level.fixed.resize(n);
        level.mask.assign(n, 1.0f);
        const double c = (shrink - 1) / 2.0;
        parallel(lg.n[2], threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t y = 0; y < lg.n[1]; ++y)
                    for (size_t x = 0; x < lg.n[0]; ++x) {
                        const size_t i = (z * lg.n[1] + y) * lg.n[0] + x;
                        const double fx = x * double(shrink) + c, fy = y * double(shrink) + c, fz = z * double(shrink) + c;
                        level.fixed[i] = shrink > 1 ? sample(source.data(), fixed_grid_, fx, fy, fz, 0.0f) : source[i];
                        if (!fixed_mask_.empty()) {
                            const size_t j = (clamp_index(std::lround(fz), fixed_grid_.n[2]) * fixed_grid_.n[1] +
                                              clamp_index(std::lround(fy), fixed_grid_.n[1])) * fixed_grid_.n[0] +
                                             clamp_index(std::lround(fx), fixed_grid_.n[0]);
                            level.mask[i] = fixed_mask_[j] > 0 ? 1.0f : 0.0f;
                        }
                    }
        });
        const long r = long(o_.radius);
        std::vector<float> scratch(n), squares(n);
        level.sum_f.resize(n);
        level.sum_ff.resize(n);
        box_sum(level.fixed.data(), level.sum_f.data(), scratch.data(), lg, r, threads_);
        for (size_t i = 0; i < n; ++i) squares[i] = level.fixed[i] * level.fixed[i];
        box_sum(squares.data(), level.sum_ff.data(), scratch.data(), lg, r, threads_);
        level.moving_warped.resize(n);
        return level;
    }

    std::vector<float> smoothed_moving(double sigma_mm) {
        std::vector<float> out = moving_;
        if (sigma_mm > 0) {
            double sigma[3];
            for (int a = 0; a < 3; ++a) {
                const double spacing = std::sqrt(moving_grid_.P[a] * moving_grid_.P[a] + moving_grid_.P[3 + a] * moving_grid_.P[3 + a] +
                                                 moving_grid_.P[6 + a] * moving_grid_.P[6 + a]);
                sigma[a] = sigma_mm / spacing;
            }
            smooth(out, moving_grid_, 1, sigma, threads_);
        }
        return out;
    }

    /** W(x) = M(A(x + u(x))) on the level's grid; 0 (the standardised background's floor is unknown) outside. */
    void warp(Level &level, const std::vector<float> &moving, const std::vector<float> &u) {
        const Grid &lg = level.grid;
        // Moving index of voxel i: H i + h + G u, H = G P, h = G o + g.
        double H[9], h[3];
        multiply3(G_, lg.P, H);
        for (int i = 0; i < 3; ++i) h[i] = g_[i] + G_[3 * i] * lg.origin[0] + G_[3 * i + 1] * lg.origin[1] + G_[3 * i + 2] * lg.origin[2];
        const float background = moving_outside_;
        parallel(lg.n[2], threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t y = 0; y < lg.n[1]; ++y)
                    for (size_t x = 0; x < lg.n[0]; ++x) {
                        const size_t i = (z * lg.n[1] + y) * lg.n[0] + x;
                        const float *d = &u[3 * i];
                        double m[3];
                        for (int a = 0; a < 3; ++a)
                            m[a] = H[3 * a] * x + H[3 * a + 1] * y + H[3 * a + 2] * z + h[a] + G_[3 * a] * d[0] + G_[3 * a + 1] * d[1] +
                                   G_[3 * a + 2] * d[2];
                        level.moving_warped[i] = sample(moving.data(), moving_grid_, m[0], m[1], m[2], background);
                    }
        });
    }

    /** The mean squared local correlation inside the mask after warping. */
    double evaluate(Level &level, const std::vector<float> &moving, const std::vector<float> &u) {
        warp(level, moving, u);
        Sums sums;
        return correlation(level, sums, false);
    }

    /**
     * Per voxel y, the four window sums that make d metric / d W(y) = F(y) a - b - W(y) c + d (see
     * ``correlation``). Four separate maps, so that each is box-summed in place.
     */
    struct Sums {
        std::vector<float> a, b, c, d;
    };

    /**
     * Window sums of W, W^2, FW; per window centre x inside the mask the squared correlation cc = A^2 / (B C)
     * (A, B, C: covariance and variances times the window count) and, if `gradient`, the coefficients of its
     * derivative, d cc / d W(y) = alpha ((F(y) - mean F) - (A / C)(W(y) - mean W)) with alpha = 2 A / (B C),
     * summed over the windows holding each y into `sums`. Returns the mean cc inside the mask.
     */
    double correlation(Level &level, Sums &sums, bool gradient) {
        const Grid &lg = level.grid;
        const size_t n = lg.count();
        const long r = long(o_.radius);
        const float *F = level.fixed.data(), *W = level.moving_warped.data();
        std::vector<float> scratch(n);
        sums.a.resize(n);
        sums.b.resize(n);
        sums.c.resize(n);
        sums.d.resize(n);
        // Window sums of W, W^2 and FW, held in b, c and a until the coefficients replace them voxel by voxel.
        float *sw = sums.b.data(), *sww = sums.c.data(), *sfw = sums.a.data(), *work = sums.d.data();
        box_sum(W, sw, scratch.data(), lg, r, threads_);
        for (size_t i = 0; i < n; ++i) work[i] = W[i] * W[i];
        box_sum(work, sww, scratch.data(), lg, r, threads_);
        for (size_t i = 0; i < n; ++i) work[i] = F[i] * W[i];
        box_sum(work, sfw, scratch.data(), lg, r, threads_);
        std::vector<double> plane_sum(lg.n[2], 0.0), plane_count(lg.n[2], 0.0);
        parallel(lg.n[2], threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t y = 0; y < lg.n[1]; ++y)
                    for (size_t x = 0; x < lg.n[0]; ++x) {
                        const size_t i = (z * lg.n[1] + y) * lg.n[0] + x;
                        const double k = double(window_count(x, lg.n[0], r)) * window_count(y, lg.n[1], r) * window_count(z, lg.n[2], r);
                        const double sf = level.sum_f[i], swv = sw[i];
                        const double A = sfw[i] - sf * swv / k, B = level.sum_ff[i] - sf * sf / k, C = sww[i] - swv * swv / k;
                        float ca = 0, cb = 0, cc2 = 0, cd = 0;
                        if (level.mask[i] > 0) {
                            plane_count[z] += 1;
                            if (B > 1e-5 * k && C > 1e-5 * k) {
                                plane_sum[z] += A * A / (B * C);
                                const double alpha = 2 * A / (B * C), beta = alpha * A / C;
                                ca = float(alpha);
                                cb = float(alpha * sf / k);
                                cc2 = float(beta);
                                cd = float(beta * swv / k);
                            }
                        }
                        sfw[i] = ca;
                        sw[i] = cb;
                        sww[i] = cc2;
                        work[i] = cd;
                    }
        });
        double sum = 0, count = 0;
        for (size_t z = 0; z < lg.n[2]; ++z) { sum += plane_sum[z]; count += plane_count[z]; }
        if (gradient)
            for (auto *map : {&sums.a, &sums.b, &sums.c, &sums.d}) box_sum(map->data(), map->data(), scratch.data(), lg, r, threads_);
        return count > 0 ? sum / count : 0;
    }

    /** One greedy iteration; returns the metric before the update. */
    double iterate(Level &level, const std::vector<float> &moving, std::vector<float> &u) {
        const Grid &lg = level.grid;
        const size_t n = lg.count(), nx = lg.n[0], ny = lg.n[1], nz = lg.n[2];
        warp(level, moving, u);
        std::vector<float> force(3 * n);
        double metric;
        {
            Sums sums;
            metric = correlation(level, sums, true);
            // Force: d metric / d W(y) times the warped image's gradient (LPS, per mm).
            const float *F = level.fixed.data(), *W = level.moving_warped.data();
            const double *Pi = lg.Pinv;
            parallel(nz, threads_, [&](size_t z0, size_t z1) {
                for (size_t z = z0; z < z1; ++z)
                    for (size_t y = 0; y < ny; ++y)
                        for (size_t x = 0; x < nx; ++x) {
                            const size_t i = (z * ny + y) * nx + x;
                            const float dW = F[i] * sums.a[i] - sums.b[i] - W[i] * sums.c[i] + sums.d[i];
                            const size_t xl = clamp_index(long(x) - 1, nx), xh = clamp_index(long(x) + 1, nx);
                            const size_t yl = clamp_index(long(y) - 1, ny), yh = clamp_index(long(y) + 1, ny);
                            const size_t zl = clamp_index(long(z) - 1, nz), zh = clamp_index(long(z) + 1, nz);
                            const size_t row = (z * ny + y) * nx;
                            const float gx = xh > xl ? (W[row + xh] - W[row + xl]) / float(xh - xl) : 0.0f;
                            const float gy = yh > yl ? (W[(z * ny + yh) * nx + x] - W[(z * ny + yl) * nx + x]) / float(yh - yl) : 0.0f;
                            const float gz = zh > zl ? (W[(zh * ny + y) * nx + x] - W[(zl * ny + y) * nx + x]) / float(zh - zl) : 0.0f;
                            // Gradient per mm: P^-T times the gradient per index.
                            for (int a = 0; a < 3; ++a)
                                force[3 * i + a] = dW * float(Pi[a] * gx + Pi[3 + a] * gy + Pi[6 + a] * gz);
                        }
            });
        }
        const double *Pi = lg.Pinv;
        const double us[3] = {o_.update_sigma, o_.update_sigma, o_.update_sigma};
        smooth(force, lg, 3, us, threads_);
        // Scale so that the largest update is `step` voxels.
        std::vector<float> slab_max(nz, 0.0f);
        parallel(nz, threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t i = z * lg.plane(); i < (z + 1) * lg.plane(); ++i) {
                    const float *f = &force[3 * i];
                    double norm = 0;
                    for (int a = 0; a < 3; ++a) {
                        const double d = Pi[3 * a] * f[0] + Pi[3 * a + 1] * f[1] + Pi[3 * a + 2] * f[2];
                        norm += d * d;
                    }
                    slab_max[z] = std::max(slab_max[z], float(std::sqrt(norm)));
                }
        });
        const float largest = *std::max_element(slab_max.begin(), slab_max.end());
        if (!(largest > 0) || !std::isfinite(largest)) return metric;
        const float scale = float(o_.step) / largest;
        // Compose: u'(x) = v(x) + u(x + v(x)).
        std::vector<float> composed(3 * n);
        parallel(nz, threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t y = 0; y < ny; ++y)
                    for (size_t x = 0; x < nx; ++x) {
                        const size_t i = (z * ny + y) * nx + x;
                        const float v[3] = {scale * force[3 * i], scale * force[3 * i + 1], scale * force[3 * i + 2]};
                        double d[3];
                        for (int a = 0; a < 3; ++a) d[a] = Pi[3 * a] * v[0] + Pi[3 * a + 1] * v[1] + Pi[3 * a + 2] * v[2];
                        float carried[3];
                        sample_vector(u.data(), lg, x + d[0], y + d[1], z + d[2], carried);
                        for (int a = 0; a < 3; ++a) composed[3 * i + a] = v[a] + carried[a];
                    }
        });
        std::vector<float>().swap(force);
        const double ts[3] = {o_.total_sigma, o_.total_sigma, o_.total_sigma};
        smooth(composed, lg, 3, ts, threads_);
        u.swap(composed);
        return metric;
    }

    /** `u` (on `from`) carried to the grid `to` by linear interpolation in physical space. */
    std::vector<float> resample_field(const std::vector<float> &u, const Grid &from, const Grid &to) {
        std::vector<float> out(3 * to.count());
        double H[9], h[3], d[3];
        multiply3(from.Pinv, to.P, H);
        for (int a = 0; a < 3; ++a) d[a] = to.origin[a] - from.origin[a];
        for (int a = 0; a < 3; ++a) h[a] = from.Pinv[3 * a] * d[0] + from.Pinv[3 * a + 1] * d[1] + from.Pinv[3 * a + 2] * d[2];
        parallel(to.n[2], threads_, [&](size_t z0, size_t z1) {
            for (size_t z = z0; z < z1; ++z)
                for (size_t y = 0; y < to.n[1]; ++y)
                    for (size_t x = 0; x < to.n[0]; ++x) {
                        const size_t i = (z * to.n[1] + y) * to.n[0] + x;
                        double c[3];
                        for (int a = 0; a < 3; ++a) c[a] = H[3 * a] * x + H[3 * a + 1] * y + H[3 * a + 2] * z + h[a];
                        sample_vector(u.data(), from, c[0], c[1], c[2], &out[3 * i]);
                    }
        });
        return out;
    }

    /** v with q + v(q) undoing p -> p + u(p): the fixed point of v(q) = -u(q + v(q)); returns the largest residual (mm). */
    double invert(const std::vector<float> &u, const Grid &g, float *inverse) {
        const size_t n = g.count();
        std::vector<float> v(3 * n), next(3 * n);
        for (size_t i = 0; i < 3 * n; ++i) v[i] = -u[i];
        std::vector<float> slab_residual(g.n[2], 0.0f);
        const double *Pi = g.Pinv;
        auto step = [&](bool measure) {
            parallel(g.n[2], threads_, [&](size_t z0, size_t z1) {
                for (size_t z = z0; z < z1; ++z) {
                    float worst = 0;
                    for (size_t y = 0; y < g.n[1]; ++y)
                        for (size_t x = 0; x < g.n[0]; ++x) {
                            const size_t i = (z * g.n[1] + y) * g.n[0] + x;
                            const float *w = &v[3 * i];
                            double d[3];
                            for (int a = 0; a < 3; ++a) d[a] = Pi[3 * a] * w[0] + Pi[3 * a + 1] * w[1] + Pi[3 * a + 2] * w[2];
                            float carried[3];
                            sample_vector(u.data(), g, x + d[0], y + d[1], z + d[2], carried);
                            const bool inside = x + d[0] >= 0 && y + d[1] >= 0 && z + d[2] >= 0 && x + d[0] <= g.n[0] - 1 &&
                                                y + d[1] <= g.n[1] - 1 && z + d[2] <= g.n[2] - 1;
                            if (measure && inside) {
                                const float e = std::sqrt((w[0] + carried[0]) * (w[0] + carried[0]) + (w[1] + carried[1]) * (w[1] + carried[1]) +
                                                          (w[2] + carried[2]) * (w[2] + carried[2]));
                                worst = std::max(worst, e);
                            }
                            for (int a = 0; a < 3; ++a) next[3 * i + a] = -carried[a];
                        }
                    slab_residual[z] = worst;
                }
            });
            v.swap(next);
        };
        for (uint32_t k = 0; k < o_.inverse_iterations; ++k) step(false);
        step(true);
        std::copy(v.begin(), v.end(), inverse);
        return *std::max_element(slab_residual.begin(), slab_residual.end());
    }

};

}  // namespace

extern "C" taco_status taco_register_greedy(taco_image_view fixed, taco_image_view moving, const double initial[16],
                                            const taco_greedy_options *options, float *forward, float *inverse,
                                            taco_greedy_result *result) {
    return guarded("greedy registration", [&] {
        if (!options || !result || !forward) fail(TACO_ERR_INVALID_ARGUMENT, "missing options, result or field buffer");
        const taco_greedy_options &o = *options;
        validate_view(fixed, "fixed");
        validate_view(moving, "moving");
        if (o.levels == 0 || o.levels > TACO_MAX_LEVELS) fail(TACO_ERR_INVALID_ARGUMENT, "levels must be 1.." + std::to_string(TACO_MAX_LEVELS));
        for (uint32_t l = 0; l < o.levels; ++l)
            if (o.shrink[l] == 0) fail(TACO_ERR_INVALID_ARGUMENT, "shrink factors must be positive");
        if (o.shrink[o.levels - 1] != 1) fail(TACO_ERR_INVALID_ARGUMENT, "the last level must have shrink factor 1 (the field lives on the fixed grid)");
        if (o.radius == 0) fail(TACO_ERR_INVALID_ARGUMENT, "the correlation radius must be at least 1");
        if (!(o.step > 0)) fail(TACO_ERR_INVALID_ARGUMENT, "the step must be positive");
        if (o.update_sigma < 0 || o.total_sigma < 0) fail(TACO_ERR_INVALID_ARGUMENT, "smoothing sigmas must not be negative");
        Greedy greedy(fixed, moving, initial, o);
        greedy.run(forward, inverse, *result);
    });
}
