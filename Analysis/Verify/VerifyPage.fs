namespace Research.Analysis.Verify

open System.IO
open Research.Analysis.Pages

/// verify.html: the check table and the figures of `verify`.
[<AbstractClass; Sealed>]
type VerifyPage =
    static member Sections(result: VerifyResult) =
        [ yield
              Paragraph
                  $"{result.Rows.Length} checks, {result.Failures.Length} failed (seed {result.Seed}, {result.Seconds:F1} s). The numerical value must equal the analytic one within the tolerance (=), not exceed it by more (<=), or not fall below it by more (>=)."
          yield Html(VerifyTable.Html result.Rows)
          for figure in result.Figures do
              yield Plot figure ]

    /// Writes <folder>/verify.html (with plotly.min.js beside it); returns its path.
    static member Write(folder: string, result: VerifyResult) =
        HtmlPage.Save(Path.Combine(folder, "verify.html"), "Numerical checks of the derivations", VerifyPage.Sections result)
