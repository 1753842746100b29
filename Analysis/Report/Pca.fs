namespace Research.Analysis.Report

open MathNet.Numerics.LinearAlgebra

type Projection2D =
    { X: float[]
      Y: float[]
      /// Fraction of the total variance along each of the two axes.
      ExplainedVariance: float * float }

module Pca =
    /// Projects n points of dimension d (row-major, n*d values) onto their first two principal axes.
    /// The axes are the leading right singular vectors of the centred data Xc, obtained from the SVD of
    /// the d x d matrix Xc'Xc (same vectors, squared singular values) so that no n x n factor is formed.
    /// Signs are fixed so that each axis's largest-magnitude component is positive.
    let project2D (values: float32[]) (count: int) (dim: int) =
        if count < 2 || dim < 2 || values.Length <> count * dim then
            invalidArg "values" $"expected at least 2 points of dimension >= 2 as {count}x{dim} values, got {values.Length}"
        let data = Matrix<float>.Build.Dense(count, dim, fun i j -> float values[i * dim + j])
        let mean = data.ColumnSums() / float count
        let centred = data - Matrix<float>.Build.DenseOfRowVectors(Array.create count mean)
        let svd = centred.TransposeThisAndMultiply(centred).Svd(true)
        let axis k =
            let v = svd.VT.Row k
            if v[v.AbsoluteMaximumIndex()] < 0.0 then -v else v
        let xs, ys = centred * axis 0, centred * axis 1
        let total = svd.S.Sum()
        { X = xs.ToArray()
          Y = ys.ToArray()
          ExplainedVariance = svd.S[0] / total, svd.S[1] / total }
