/// The entry point of a test program: Expecto's command line (`--filter`, `--filter-test-list`,
/// `--filter-test-case`, `--list-tests`, `--sequenced`, ...), then one line that scripts/test.sh adds
/// up over the programs, "tests: N passed, N failed, N skipped" (errors count as failures).
module Research.Tests.Program

open Expecto
open Expecto.Impl
open Research.Tests.Checks

[<EntryPoint>]
let main argv =
    let withTotals =
        { TestPrinters.defaultPrinter with
            summary =
                fun config summary ->
                    async {
                        do! TestPrinters.defaultPrinter.summary config summary
                        printfn "tests: %d passed, %d failed, %d skipped"
                            summary.passed.Length (summary.failed.Length + summary.errored.Length) summary.ignored.Length
                    } }
    let code = Tests.runTestsInAssemblyWithCLIArgs [ CLIArguments.Printer withTotals ] argv
    disposeShared ()
    code
