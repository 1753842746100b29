/// Sample-quality metrics on the feature network's outputs (FeatureNet.Features), all in float64:
/// FID, KID, improved precision and recall, density and coverage, and the classifier score with its
/// class histogram.
module Research.Core.Metrics.SampleQuality

open System
open MathNet.Numerics.LinearAlgebra
open Research.Core
open Research.Core.Metrics.FeatureNet

/// The Gaussian fitted to features [N; d]: the mean and the unbiased covariance (as pytorch-fid's
/// np.cov), as MathNet values.
let gaussian (features: Tensor) =
    use scope = new TensorScope()
    let n, d = features.size 0, int (features.size 1)
    let mu = features.mean 0
    let centred = features - mu
    let cov = (centred.t().mm centred) / float (n - 1L)
    Vector<float>.Build.DenseOfArray(mu.toFloat64Array ()), Matrix<float>.Build.DenseOfRowMajor(d, d, cov.toFloat64Array ())

/// The square root of a symmetric positive semi-definite matrix, from its eigen-decomposition
/// (eigenvalues rounded below zero are taken as zero).
let sqrtPsd (c: Matrix<float>) =
    let evd = c.Evd(Symmetricity.Symmetric)
    let v = evd.EigenVectors
    v * Matrix<float>.Build.DiagonalOfDiagonalArray(evd.EigenValues.Map(fun e -> sqrt (max 0.0 e.Real)).ToArray()) * v.Transpose()

/// The Frechet distance between N(mu1, C1) and N(mu2, C2) (Heusel et al. 2017, eq. 6):
///   |mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr (C1 C2)^(1/2).
/// tr (C1 C2)^(1/2) = tr (S C2 S)^(1/2) with S = C1^(1/2): the product S C2 S is symmetric, so its
/// eigenvalues are real and the root is stable where C1 C2 itself is far from symmetric.
let frechetDistance (mu1: Vector<float>, c1: Matrix<float>) (mu2: Vector<float>, c2: Matrix<float>) =
    let s = sqrtPsd c1
    let m = s * c2 * s
    let m = (m + m.Transpose()) / 2.0
    let traceRoot = m.Evd(Symmetricity.Symmetric).EigenValues |> Seq.sumBy (fun e -> sqrt (max 0.0 e.Real))
    let diff = mu1 - mu2
    diff.DotProduct diff + c1.Trace() + c2.Trace() - 2.0 * traceRoot

/// FID of two feature sets.
let fid (real: Tensor) (fake: Tensor) = frechetDistance (gaussian real) (gaussian fake)

/// The unbiased MMD^2 between two sets with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3
/// (Binkowski et al. 2018, eq. 4; the diagonal of k(X, X) and k(Y, Y) left out).
let mmdUnbiased (x: Tensor) (y: Tensor) =
    use scope = new TensorScope()
    let d = float (x.size 1)
    let kernel (a: Tensor) (b: Tensor) = (a.mm (b.t ()) / d + 1.0).pow 3.0
    let within (a: Tensor) =
        let m = float (a.size 0)
        let diagonal = ((a * a).sum 1 / d + 1.0).pow 3.0
        ((kernel a a).sum().item () - diagonal.sum().item ()) / (m * (m - 1.0))
    within x + within y - 2.0 * (kernel x y).mean().item ()

/// KID: the mean of the unbiased MMD^2 over `subsets` random subsets of `size` from each set (drawn
/// without replacement), with the standard error of that mean (0 for one subset).
let kid (real: Tensor) (fake: Tensor) (subsets: int) (size: int) (generator: Generator) =
    let m = min (int64 size) (min (real.size 0) (fake.size 0))
    let draw (f: Tensor) =
        use order = torch.randperm (f.size 0, generator = generator)
        use rows = order.narrow (0, 0L, m)
        f.index_select (0, rows)
    let values =
        [| for _ in 1 .. subsets ->
               use x = draw real
               use y = draw fake
               mmdUnbiased x y |]
    let mean = Array.average values
    let stdErr =
        if subsets < 2 then 0.0
        else sqrt ((values |> Array.sumBy (fun v -> (v - mean) ** 2.0)) / float (subsets - 1) / float subsets)
    mean, stdErr

/// Euclidean distances [na; nb] between the rows of a and b.
let private distances (a: Tensor) (b: Tensor) =
    let a2 = (a * a).sum(1).unsqueeze 1
    let b2 = (b * b).sum(1).unsqueeze 0
    // In place: one [na; nb] matrix per call, not six.
    (a.mm (b.t ())).mul_(-2.0).add_(a2).add_(b2).clamp_(min = 0.0).pow_ 0.5

// Rows 250 at a time: a chunk's distance matrix against 10,000 points (20 MB) stays below glibc's
// mmap threshold, so each chunk reuses the last one's memory instead of faulting in fresh pages.
let private chunks (n: int64) = [ for start in 0L .. 250L .. n - 1L -> start, min 250L (n - start) ]

/// The radii of each point's k-NN balls within its own set, one tensor [N] per k in `ks`: the
/// distance to its k-th nearest neighbour, itself not counted. One pass over the pairs serves all ks.
let private radii (f: Tensor) (ks: int list) =
    use scope = new TensorScope()
    let nearest =
        [ for start, len in chunks (f.size 0) ->
              // A scope per chunk: its distance matrix goes before the next one is made.
              use chunk = new TensorScope()
              chunk.MoveToOuter((distances (f.narrow (0, start, len)) f).topk (List.max ks + 1, 1, largest = false)) ]
    // Column 0 is the point itself (distance 0).
    let nearest = torch.cat (nearest, 0)
    [ for k in ks -> scope.MoveToOuter((nearest.select (1, int64 k)).contiguous ()) ]

let private radius (f: Tensor) (k: int) = List.exactlyOne (radii f [ k ])

/// f over chunks of `points` (each with the matrix [chunk; set] of 1 where a point lies in a set
/// point's ball), summed.
let private sumOverBalls (points: Tensor) (set: Tensor) (setRadii: Tensor) (f: Tensor -> float) =
    List.sum
        [ for start, len in chunks (points.size 0) ->
              use chunk = new TensorScope()
              f (((distances (points.narrow (0, start, len)) set).le (setRadii.unsqueeze 0)).``to`` Float64) ]

/// The fraction of `points` inside the manifold of `set`: the union of its points' k-NN balls.
let private insideFraction (points: Tensor) (set: Tensor) (setRadii: Tensor) =
    sumOverBalls points set setRadii (fun inBall -> inBall.max(1).sum().item ()) / float (points.size 0)

/// Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2): precision is the fraction of
/// generated samples inside the real manifold, recall the fraction of real samples inside the
/// generated manifold, each manifold the union of k-NN balls (k = 3 in the paper). `realRadii`
/// are the real samples' k-NN radii.
let private precisionRecallWithin (real: Tensor, realRadii: Tensor) (fake: Tensor) (k: int) =
    use fakeRadii = radius fake k
    insideFraction fake real realRadii, insideFraction real fake fakeRadii

let precisionRecall (real: Tensor) (fake: Tensor) (k: int) =
    use realRadii = radius real k
    precisionRecallWithin (real, realRadii) fake k

/// Density and coverage (Naeem et al. 2020, eq. 3 and 4), on the real samples' k-NN balls alone:
/// density = (1 / kM) sum_j sum_i 1[fake_j in ball_i], the mean number of real balls around a fake
/// sample over k (about 1 for samples distributed as the real ones; a cluster of fakes inside one
/// ball counts 1/k each, where precision would count them all); coverage = (1 / N) sum_i
/// 1[some fake in ball_i], the fraction of real samples with a fake sample near them. Neither
/// uses the fakes' own balls, which a few outliers inflate.
let private densityCoverageWithin (real: Tensor, realRadii: Tensor) (fake: Tensor) (k: int) =
    let density = sumOverBalls fake real realRadii (fun inBall -> inBall.sum().item ()) / (float k * float (fake.size 0))
    let covered =
        List.sum
            [ for start, len in chunks (real.size 0) ->
                  use chunk = new TensorScope()
                  let nearest = (distances (real.narrow (0, start, len)) fake).min 1
                  (nearest.le (realRadii.narrow (0, start, len))).sum().item () ]
    density, covered / float (real.size 0)

let densityCoverage (real: Tensor) (fake: Tensor) (k: int) =
    use realRadii = radius real k
    densityCoverageWithin (real, realRadii) fake k

/// The classifier score exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the samples: the
/// MNIST analogue of the Inception score (Salimans et al. 2016), between 1 and the 10 classes.
let classifierScore (probabilities: Tensor) =
    use scope = new TensorScope()
    // 0 log 0 = 0: clamping both logs keeps classes that no sample predicts from giving 0 x inf.
    let logPy = (probabilities.mean 0).clamp(min = 1e-30).log ()
    let logP = probabilities.clamp(min = 1e-30).log ()
    exp ((probabilities * (logP - logPy)).sum(1).mean().item ())

/// How many samples the classifier puts in each class (mode collapse shows as empty classes).
let classHistogram (probabilities: Tensor) =
    use classes = probabilities.argmax 1
    let counts = Array.zeroCreate (int (probabilities.size 1))
    for c in classes.toArray<int64> () do counts[int c] <- counts[int c] + 1
    counts

/// Every metric of a generated set against a reference set.
type Scores =
    { Images: int
      Fid: float
      Kid: float
      KidStdErr: float
      Precision: float
      Recall: float
      Density: float
      Coverage: float
      ClassifierScore: float
      Classes: int[] }

/// KID's usual settings: 100 subsets of 1,000; precision and recall with k = 3, density and
/// coverage with k = 5 (each paper's choice).
let kidSubsets, kidSubsetSize, neighbours, densityNeighbours = 100, 1000, 3, 5

/// The reference set with what every set scored against it shares, computed once: its Gaussian
/// and its k-NN radii (one pass over all pairs of its 10,000 points).
type Reference =
    { Set: Features
      Gaussian: Vector<float> * Matrix<float>
      PrecisionRadii: Tensor
      DensityRadii: Tensor }
    interface IDisposable with
        member r.Dispose() =
            r.PrecisionRadii.Dispose()
            r.DensityRadii.Dispose()

/// The reference of a feature set; `set` stays the caller's.
let reference (set: Features) =
    let r = radii set.Features [ neighbours; densityNeighbours ]
    { Set = set; Gaussian = gaussian set.Features; PrecisionRadii = r[0]; DensityRadii = r[1] }

let score (reference: Reference) (generated: Features) (seed: int64) =
    use generator = new Generator(seed)
    let real = reference.Set.Features
    let kidMean, kidStdErr = kid real generated.Features kidSubsets kidSubsetSize generator
    let precision, recall = precisionRecallWithin (real, reference.PrecisionRadii) generated.Features neighbours
    let density, coverage = densityCoverageWithin (real, reference.DensityRadii) generated.Features densityNeighbours
    { Images = int (generated.Features.size 0)
      Fid = frechetDistance reference.Gaussian (gaussian generated.Features)
      Kid = kidMean
      KidStdErr = kidStdErr
      Precision = precision
      Recall = recall
      Density = density
      Coverage = coverage
      ClassifierScore = classifierScore generated.Probabilities
      Classes = classHistogram generated.Probabilities }
