namespace Research.Core.Training

/// One series of a curve panel: values over epochs.
type Series = { Name: string; X: float[]; Y: float[] }

/// A figure or table that a run's report shows, as plain data: the generic report makes the curves
/// of metrics.csv and the image grids of images/, and a family adds what needs its model. The
/// report draws them without knowing any family.
type Panel =
    /// Lines over epochs, with horizontal reference lines (label, value), e.g. an optimum.
    | Curves of title: string * yTitle: string * series: Series list * references: (string * float) list
    /// PNG images, one per frame label (e.g. per epoch), shown one at a time.
    | Images of title: string * caption: string * frames: (string * byte[]) list
    /// Points coloured by an integer label (a digit); rows of `points` have any dimension, and the
    /// report projects them to the plane (by PCA beyond two).
    | Points of title: string * points: float[][] * labels: int[]
    | Table of title: string * header: string list * rows: string list list
    /// Bars over categories, one series of heights per name, side by side (a class histogram).
    | Bars of title: string * xTitle: string * categories: string list * series: (string * float[]) list
    /// A sentence shown in a box above the run's figures (that the run is too short to judge, say).
    | Note of text: string

module Panel =
    let title =
        function
        | Curves(title, _, _, _)
        | Images(title, _, _)
        | Points(title, _, _)
        | Table(title, _, _)
        | Bars(title, _, _, _) -> title
        | Note _ -> ""
