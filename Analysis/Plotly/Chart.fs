namespace Research.Analysis.Plotly

open System

/// Figure builders in Plotly.NET's shape: `Chart.Line(x, y, Name = "val") |> Chart.withTitle "..."`.
[<AbstractClass; Sealed>]
type Chart =
    static let single data name =
        { Traces = [ { Data = data; Name = name; ShowLegend = None; Subplot = 1 } ]
          Layout = Layout.Empty }

    static let withLegend (show: bool option) (figure: Figure) =
        { figure with Traces = figure.Traces |> List.map (fun t -> { t with ShowLegend = show }) }

    static let mapAxis (update: Axis -> Axis) (axes: Map<int, Axis>) =
        axes.Change(1, Option.defaultValue Axis.Default >> update >> Some)

    static let mapLayout (update: Layout -> Layout) (figure: Figure) =
        { figure with Layout = update figure.Layout }

    static let mergeMaps (first: Map<int, 'v>) (second: Map<int, 'v>) =
        Map.fold (fun acc k v -> Map.add k v acc) first second

    /// `MarkerColor` gives each point a number mapped through a colour scale; `Color` (any CSS colour)
    /// is one colour for the whole trace; `Text` is hover text.
    static member Scatter
        (x: float seq, y: float seq, mode: Mode, ?Name: string, ?MarkerColor: float seq, ?Text: string seq, ?Color: string, ?ShowLegend: bool)
        =
        let x, y = Array.ofSeq x, Array.ofSeq y
        if x.Length <> y.Length then invalidArg "y" $"x has {x.Length} values but y has {y.Length}"
        single (Scatter(x, y, mode, Color, Option.map Array.ofSeq MarkerColor, Option.map Array.ofSeq Text)) Name
        |> withLegend ShowLegend

    static member Line(x: float seq, y: float seq, ?Name: string, ?Color: string, ?ShowLegend: bool) =
        Chart.Scatter(x, y, Lines, ?Name = Name, ?Color = Color, ?ShowLegend = ShowLegend)

    /// z is row by row (z[i][j] at y[i], x[j]).
    static member Heatmap(z: float[][], ?X: float seq, ?Y: float seq, ?ColorScale: string) =
        single (Heatmap(z, Option.map Array.ofSeq X, Option.map Array.ofSeq Y, ColorScale)) None

    /// A PNG shown at its pixel size, axes without ticks (plotly reverses y for images).
    static member Image(png: byte[], ?Name: string) =
        if png.Length < 8 || png[1] <> byte 'P' || png[2] <> byte 'N' || png[3] <> byte 'G' then
            invalidArg "png" "Chart.Image expects PNG file bytes"
        let plain = { Axis.Default with Decorated = false }
        let figure = single (Image("data:image/png;base64," + Convert.ToBase64String png)) Name
        { figure with Layout = { figure.Layout with XAxes = Map [ 1, plain ]; YAxes = Map [ 1, plain ] } }

    static member Bar(categories: string seq, heights: float seq, ?Name: string) =
        let x, y = Array.ofSeq categories, Array.ofSeq heights
        if x.Length <> y.Length then invalidArg "heights" $"{x.Length} categories but {y.Length} heights"
        single (Bar(x, y)) Name

    static member Histogram(x: float seq, ?NBins: int, ?Name: string) =
        single (Histogram(Array.ofSeq x, NBins)) Name

    /// Overlays figures drawn on the same axes; later layout settings win.
    static member combine(figures: Figure seq) =
        let figures = List.ofSeq figures
        let layout =
            figures
            |> List.map _.Layout
            |> List.fold
                (fun (acc: Layout) l ->
                    { Title = Option.orElse acc.Title l.Title
                      XAxes = mergeMaps acc.XAxes l.XAxes
                      YAxes = mergeMaps acc.YAxes l.YAxes
                      SubplotTitles = mergeMaps acc.SubplotTitles l.SubplotTitles
                      Grid = Option.orElse acc.Grid l.Grid
                      Width = Option.orElse acc.Width l.Width
                      Height = Option.orElse acc.Height l.Height })
                Layout.Empty
        { Traces = figures |> List.collect _.Traces
          Layout = layout }

    /// Subplots, row by row: figure i goes to cell i with its own axes; its title goes above it.
    static member Grid(rows: int, cols: int) =
        fun (figures: #seq<Figure>) ->
            let figures = List.ofSeq figures
            if figures.Length > rows * cols then
                invalidArg "figures" $"{figures.Length} figures do not fit a {rows}x{cols} grid"
            let cell i (figure: Figure) =
                if figure.Layout.Grid.IsSome || figure.Traces |> List.exists (fun t -> t.Subplot <> 1) then
                    invalidArg "figures" "Chart.Grid cannot nest a figure that already has subplots"
                let k = i + 1
                let axis (axes: Map<int, Axis>) = axes.TryFind 1 |> Option.map (fun a -> k, a)
                { Traces = figure.Traces |> List.map (fun t -> { t with Subplot = k })
                  Layout =
                    { Layout.Empty with
                        XAxes = axis figure.Layout.XAxes |> Option.toList |> Map
                        YAxes = axis figure.Layout.YAxes |> Option.toList |> Map
                        SubplotTitles = figure.Layout.Title |> Option.map (fun t -> k, t) |> Option.toList |> Map } }
            let combined = Chart.combine (List.mapi cell figures)
            { combined with Layout = { combined.Layout with Grid = Some(rows, cols) } }

    static member withTitle(title: string) = mapLayout (fun l -> { l with Title = Some title })

    static member withXAxisTitle(title: string) =
        mapLayout (fun l -> { l with XAxes = mapAxis (fun a -> { a with Title = Some title }) l.XAxes })

    static member withYAxisTitle(title: string) =
        mapLayout (fun l -> { l with YAxes = mapAxis (fun a -> { a with Title = Some title }) l.YAxes })

    /// Ticks on whole numbers only (epochs), about ten of them over [0, largest].
    static member withXAxisIntegers(largest: float) =
        let dtick = max 1.0 (ceil (largest / 10.0))
        mapLayout (fun l -> { l with XAxes = mapAxis (fun a -> { a with Dtick = Some dtick }) l.XAxes })

    static member withXAxisLog(figure: Figure) =
        mapLayout (fun l -> { l with XAxes = mapAxis (fun a -> { a with Log = true }) l.XAxes }) figure

    static member withYAxisLog(figure: Figure) =
        mapLayout (fun l -> { l with YAxes = mapAxis (fun a -> { a with Log = true }) l.YAxes }) figure

    static member withSize(width: int, height: int) =
        mapLayout (fun l -> { l with Width = Some width; Height = Some height })

    /// A page with this one figure (plotly.min.js is put beside it).
    static member saveHtml(path: string) =
        fun (figure: Figure) -> HtmlPage.Save(path, Option.defaultValue "Figure" figure.Layout.Title, [ Plot figure ]) |> ignore
