namespace Research.Analysis.Plotly

/// How a scatter trace draws its points (plotly's `mode`).
type Mode =
    | Lines
    | Markers
    | LinesMarkers

type TraceData =
    /// `color` is one colour for the line and markers; `markerColor` a number per point on a colour scale.
    | Scatter of x: float[] * y: float[] * mode: Mode * color: string option * markerColor: float[] option * text: string[] option
    | Heatmap of z: float[][] * x: float[] option * y: float[] option * colorScale: string option
    /// A raster drawn at its own pixel size; `source` is a data URI (plotly decodes it in the browser).
    | Image of source: string
    | Histogram of x: float[] * nBins: int option
    /// Bars of height y over categories x; several bar traces on one axis stand side by side.
    | Bar of x: string[] * y: float[]

/// One trace placed on a subplot (1 = the first x/y axis pair, plotly's "x"/"y"; k = "xk"/"yk").
type Trace =
    { Data: TraceData
      Name: string option
      /// None: plotly decides (legend entries for named traces when there are several)
      ShowLegend: bool option
      Subplot: int }

type Axis =
    { Title: string option
      Log: bool
      /// false hides ticks, labels and grid (images)
      Decorated: bool
      /// Ticks every dtick units from 0 (whole epochs), instead of plotly's choice.
      Dtick: float option }

    static member Default = { Title = None; Log = false; Decorated = true; Dtick = None }

type Layout =
    { Title: string option
      /// Per subplot index; a missing subplot uses Axis.Default.
      XAxes: Map<int, Axis>
      YAxes: Map<int, Axis>
      /// A title drawn above each subplot of a grid.
      SubplotTitles: Map<int, string>
      Grid: (int * int) option
      Width: int option
      Height: int option }

    static member Empty =
        { Title = None
          XAxes = Map.empty
          YAxes = Map.empty
          SubplotTitles = Map.empty
          Grid = None
          Width = None
          Height = None }

/// A plotly.js figure: traces and layout (Plotly.NET's GenericChart).
type Figure =
    { Traces: Trace list
      Layout: Layout }
