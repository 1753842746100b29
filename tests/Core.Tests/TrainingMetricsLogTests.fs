/// MetricsLog (metrics.csv): exact round trips, truncation on resume, clear errors on bad files.
module Research.Core.Tests.TrainingMetricsLogTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
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

[<Tests>]
let tests =
    testList "TrainingMetricsLogTests" [
        testCase "a log reads back bit for bit" <| fun () ->
            inTempFolder "metrics" (fun folder ->
                let path = Path.Combine(folder, "metrics.csv")
                let log = MetricsLog.Create(path, columns)
                Expect.sequenceEqual (File.ReadAllLines path) [ "epoch,train_elbo,val_elbo,seconds" ] "File.ReadAllLines path"
                for r in rows do log.Append r
                let back = MetricsLog.Open path
                Expect.equal back.Columns (List.toArray columns) "back.Columns"
                Expect.equal (bits back.Rows) (bits rows) "bits back.Rows"
                Expect.equal (back.Column "val_elbo" |> Array.map BitConverter.DoubleToInt64Bits) (rows |> Array.map (fun r -> BitConverter.DoubleToInt64Bits r.[2])) "back.Column \"val_elbo\" |> Array.map BitConverter.DoubleToInt64Bits"
                // The file is plain CSV with invariant-culture numbers, one row per line.
                Expect.equal (File.ReadAllLines(path).Length) (1 + rows.Length) "File.ReadAllLines(path).Length"
                Expect.stringStarts (File.ReadAllLines(path).[4]) "4,-98.76," "File.ReadAllLines(path).[4]"
                // No temp file is left beside it.
                Expect.equal (Directory.GetFiles folder) [| path |] "Directory.GetFiles folder")
        testCase "TruncateAfter drops the later epochs on disk too" <| fun () ->
            inTempFolder "metrics" (fun folder ->
                let path = Path.Combine(folder, "metrics.csv")
                let log = MetricsLog.Create(path, columns)
                for r in rows do log.Append r
                log.TruncateAfter 2
                Expect.equal (bits log.Rows) (bits rows.[0..1]) "bits log.Rows"
                Expect.equal (bits (MetricsLog.Open path).Rows) (bits rows.[0..1]) "bits (MetricsLog.Open path).Rows"
                log.TruncateAfter 0
                Expect.isEmpty ((MetricsLog.Open path).Rows) "(MetricsLog.Open path).Rows")
        testCase "bad logs and bad rows fail with the file and line" <| fun () ->
            inTempFolder "metrics" (fun folder ->
                let path = Path.Combine(folder, "metrics.csv")
                let malformed (text: string) (fragment: string) =
                    File.WriteAllText(path, text)
                    let e = raises<InvalidDataException> (fun () -> MetricsLog.Open path |> ignore)
                    Expect.stringContains e.Message path "e.Message"
                    Expect.stringContains e.Message fragment "e.Message"
                malformed "" "empty"
                malformed "epoch,loss\n1,2\n2,3,4\n" "line 3: 3 values for 2 columns"
                malformed "epoch,loss\n1,2\n2,abc\n" "line 3: 'abc' is not a number"
                malformed "garbage\n" "the header 'garbage' does not start with the column 'epoch'; not a run's metrics"
                malformed "epoch,loss\n1,2,5\n" "line 2: 3 values for 2 columns"
                // Another separator makes a row one cell.
                malformed "epoch,loss\n1;2\n" "line 2"
                let missing = Path.Combine(folder, "none.csv")
                raises<FileNotFoundException> (fun () -> MetricsLog.Open missing |> ignore) |> ignore
                let log = MetricsLog.Create(path, columns)
                raises<ArgumentException> (fun () -> log.Append [| 1.0; 2.0 |]) |> ignore
                raises<ArgumentException> (fun () -> log.Column "test_elbo" |> ignore) |> ignore
                raises<ArgumentException> (fun () -> MetricsLog.Create(path, [ "loss"; "epoch" ]) |> ignore) |> ignore)
    ]
