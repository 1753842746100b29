namespace Research.Core.Training

open System
open System.Globalization
open System.IO
open System.Text
open Research.Core.IO

/// metrics.csv of a run: a header of column names, then one row of numbers per epoch.
/// Every append rewrites the (small) file atomically, so a crash never leaves half a row.
type MetricsLog private (path: string, columns: string[], rows: ResizeArray<float[]>) =

    static let format (v: float) = v.ToString("R", CultureInfo.InvariantCulture)

    /// A new, empty log with these columns (the first is "epoch").
    static member Create(path: string, columns: string seq) =
        let columns = Seq.toArray columns
        if columns.Length = 0 || columns.[0] <> "epoch" then invalidArg "columns" "the first column must be \"epoch\""
        let log = MetricsLog(path, columns, ResizeArray())
        log.Save()
        log

    /// Reads an existing log; InvalidDataException naming the file and line when it is malformed.
    static member Open(path: string) =
        let lines = File.ReadAllLines path |> Array.filter (fun l -> l.Trim() <> "")
        if lines.Length = 0 then raise (InvalidDataException $"{path}: empty, expected a header line")
        let columns = lines.[0].Split(',')
        if columns.[0] <> "epoch" then
            raise (InvalidDataException $"{path}: the header '{lines.[0]}' does not start with the column 'epoch'; not a run's metrics")
        let parse (i: int) (line: string) =
            let cells = line.Split(',')
            if cells.Length <> columns.Length then
                raise (InvalidDataException $"{path}, line {i + 2}: {cells.Length} values for {columns.Length} columns")
            cells
            |> Array.map (fun c ->
                match Double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, v -> v
                | _ -> raise (InvalidDataException $"{path}, line {i + 2}: '{c}' is not a number"))
        MetricsLog(path, columns, ResizeArray(lines.[1..] |> Array.mapi parse))

    member _.Path = path
    member _.Columns = columns
    member _.Rows = rows.ToArray()

    /// The values of one column, row by row.
    member _.Column(name: string) =
        match Array.tryFindIndex ((=) name) columns with
        | Some i -> rows |> Seq.map (fun r -> r.[i]) |> Seq.toArray
        | None -> raise (ArgumentException $"{path} has no column '{name}'")

    member private _.Save() =
        let text = StringBuilder()
        text.AppendLine(String.Join(",", columns)) |> ignore
        for r in rows do
            text.AppendLine(String.Join(",", r |> Array.map format)) |> ignore
        AtomicFile.writeText path (text.ToString())

    /// Appends one row (values in column order) and saves.
    member log.Append(values: float[]) =
        if values.Length <> columns.Length then
            invalidArg "values" $"""{values.Length} values for the columns {String.concat "," columns}"""
        rows.Add values
        log.Save()

    /// Drops the rows after `epoch` (a resumed run repeats them) and saves.
    member log.TruncateAfter(epoch: int) =
        rows.RemoveAll(fun r -> r.[0] > float epoch) |> ignore
        log.Save()
