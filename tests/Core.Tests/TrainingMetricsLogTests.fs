/// MetricsLog (metrics.csv): exact round trips, truncation on resume, clear errors on bad files.
module Research.Core.Tests.TrainingMetricsLogTests

open System
open System.IO
open Xunit
open Research.Core.Training
open Research.Core.Tests.VaeTestSupport

let private columns = [ "epoch"; "train_elbo"; "val_elbo"; "seconds" ]

/// Values whose text form must carry every bit back: 17-digit, subnormal, huge, signed, non-finite.
let private rows =
    [| [| 1.0; -543.2109876543211; 1.0 / 3.0; 0.1 + 0.2 |]
       [| 2.0; -1e-300; 5e-324; Double.MaxValue |]
       [| 3.0; nan; Double.NegativeInfinity; -0.0 |]
       [| 4.0; -98.76; Math.PI; 12.5 |] |]

let private bits (rows: float[][]) = rows |> Array.map (Array.map BitConverter.DoubleToInt64Bits)

[<Fact>]
let ``a log reads back bit for bit`` () =
    inTempFolder "metrics" (fun folder ->
        let path = Path.Combine(folder, "metrics.csv")
        let log = MetricsLog.Create(path, columns)
        Assert.Equal<string>([ "epoch,train_elbo,val_elbo,seconds" ], File.ReadAllLines path)
        for r in rows do log.Append r
        let back = MetricsLog.Open path
        Assert.Equal<string[]>(List.toArray columns, back.Columns)
        Assert.Equal<int64[][]>(bits rows, bits back.Rows)
        Assert.Equal<int64[]>(rows |> Array.map (fun r -> BitConverter.DoubleToInt64Bits r.[2]),
                              back.Column "val_elbo" |> Array.map BitConverter.DoubleToInt64Bits)
        // The file is plain CSV with invariant-culture numbers, one row per line.
        Assert.Equal(1 + rows.Length, File.ReadAllLines(path).Length)
        Assert.StartsWith("4,-98.76,", File.ReadAllLines(path).[4])
        // No temp file is left beside it.
        Assert.Equal<string[]>([| path |], Directory.GetFiles folder))

[<Fact>]
let ``TruncateAfter drops the later epochs on disk too`` () =
    inTempFolder "metrics" (fun folder ->
        let path = Path.Combine(folder, "metrics.csv")
        let log = MetricsLog.Create(path, columns)
        for r in rows do log.Append r
        log.TruncateAfter 2
        Assert.Equal<int64[][]>(bits rows.[0..1], bits log.Rows)
        Assert.Equal<int64[][]>(bits rows.[0..1], bits (MetricsLog.Open path).Rows)
        log.TruncateAfter 0
        Assert.Empty((MetricsLog.Open path).Rows))

[<Fact>]
let ``bad logs and bad rows fail with the file and line`` () =
    inTempFolder "metrics" (fun folder ->
        let path = Path.Combine(folder, "metrics.csv")
        let malformed (text: string) (fragment: string) =
            File.WriteAllText(path, text)
            let e = Assert.Throws<InvalidDataException>(fun () -> MetricsLog.Open path |> ignore)
            Assert.Contains(path, e.Message)
            Assert.Contains(fragment, e.Message)
        malformed "" "empty"
        malformed "epoch,loss\n1,2\n2,3,4\n" "line 3: 3 values for 2 columns"
        malformed "epoch,loss\n1,2\n2,abc\n" "line 3: 'abc' is not a number"
        malformed "epoch,loss\n1,2,5\n" "line 2: 3 values for 2 columns"
        // Another separator makes a row one cell.
        malformed "epoch,loss\n1;2\n" "line 2"
        let missing = Path.Combine(folder, "none.csv")
        Assert.Throws<FileNotFoundException>(fun () -> MetricsLog.Open missing |> ignore) |> ignore
        let log = MetricsLog.Create(path, columns)
        Assert.Throws<ArgumentException>(fun () -> log.Append [| 1.0; 2.0 |]) |> ignore
        Assert.Throws<ArgumentException>(fun () -> log.Column "test_elbo" |> ignore) |> ignore
        Assert.Throws<ArgumentException>(fun () -> MetricsLog.Create(path, [ "loss"; "epoch" ]) |> ignore) |> ignore)
