namespace Research.Analysis.Report

/// The sample grid saved at one epoch (PNG bytes), e.g. decoder means beside draws from them.
type SampleGrid =
    { Epoch: int
      Png: byte[]
      /// what the grid shows, e.g. "left: decoder means, right: Bernoulli draws"
      Caption: string }

/// Points in a 2-d latent space (the latent itself when it is 2-d, else a projection).
type LatentPoints =
    { X: float[]
      Y: float[]
      Labels: int[]
      /// how the coordinates were obtained, e.g. "latent (2-d)" or "PCA of the 20-d means"
      Method: string }

/// Everything the report shows for one trained run, as plain data (images are PNG file bytes).
type RunReportData =
    { Name: string
      /// config.json flattened (ConfigJson.flatten)
      Config: (string * string)[]
      Metrics: MetricsTable
      Samples: SampleGrid[]
      /// originals above their reconstructions
      Reconstructions: byte[] option
      /// decoder means over a grid of the 2-d latent space (2-d latents only)
      Manifold: byte[] option
      Latents: LatentPoints option
      Interpolations: byte[] option }
