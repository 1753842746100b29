namespace Research.Analysis.Verify

open System
open System.Net
open System.Text

/// The check table as cells, plain aligned text (consoles, logs) and HTML (pages).
[<AbstractClass; Sealed>]
type VerifyTable =
    static let headers = [| "group"; "check"; "analytic / reference"; "relation"; "numerical"; "tolerance"; "result" |]
    static let isNumeric column = column = 2 || column = 4 || column = 5

    static member Headers = Array.copy headers

    /// The analytic, numerical and tolerance columns (right-aligned).
    static member IsNumericColumn(column: int) = isNumeric column

    /// The cells of one row as text.
    static member Cells(row: CheckRow) =
        [| row.Group
           row.Check
           Verification.Format row.Analytic
           row.Relation.Symbol
           Verification.Format row.Numerical
           Verification.Format row.Tolerance
           (if row.Passed then "pass" else "FAIL") |]

    /// Columns padded to their widest cell, numbers right-aligned.
    static member Text(rows: CheckRow seq) =
        let lines = [| headers; yield! rows |> Seq.map VerifyTable.Cells |]
        let widths = Array.init headers.Length (fun c -> lines |> Array.map (fun cells -> cells[c].Length) |> Array.max)
        let sb = StringBuilder()
        for cells in lines do
            let padded = cells |> Array.mapi (fun c cell -> if isNumeric c then cell.PadLeft widths[c] else cell.PadRight widths[c])
            sb.AppendLine(String.Join("  ", padded).TrimEnd()) |> ignore
        sb.ToString()

    /// An HTML table, failed rows highlighted (class "fail").
    static member Html(rows: CheckRow seq) =
        let sb = StringBuilder("<table class=\"verify\"><thead><tr>")
        for h in headers do
            sb.Append($"<th>{WebUtility.HtmlEncode h}</th>") |> ignore
        sb.Append("</tr></thead><tbody>") |> ignore
        for row in rows do
            sb.Append(if row.Passed then "<tr>" else "<tr class=\"fail\">") |> ignore
            VerifyTable.Cells row
            |> Array.iteri (fun c cell ->
                sb.Append(if isNumeric c then "<td class=\"num\">" else "<td>").Append(WebUtility.HtmlEncode cell).Append("</td>") |> ignore)
            sb.Append("</tr>") |> ignore
        sb.Append("</tbody></table>").ToString()
