/// What the three test programs share beside Expecto's own `Expect`: exception checks that hand the
/// exception back (its message is usually checked next), ranges, decimal places, a printer for
/// figures a test reports, and values made once for several tests (a trained run, a browser).
module Research.Tests.Checks

open System
open System.Collections.Concurrent
open Expecto

let private thrown (f: unit -> unit) = try f (); None with e -> Some e

let private wrongOrNone (expected: string) (thrown: exn option) =
    match thrown with
    | Some e -> failtestf "expected %s, got %s: %s" expected (e.GetType().Name) e.Message
    | None -> failtestf "expected %s, nothing was thrown" expected

/// The exception of exactly type 'E that f throws (a subtype does not count, as in xunit's
/// Assert.Throws); anything else, or nothing, fails the test.
let raises<'E when 'E :> exn> (f: unit -> unit) : 'E =
    match thrown f with
    | Some(:? 'E as e) when e.GetType() = typeof<'E> -> e
    | other -> wrongOrNone typeof<'E>.Name other

/// The exception of type 'E or a subtype that f throws.
let raisesAny<'E when 'E :> exn> (f: unit -> unit) : 'E =
    match thrown f with
    | Some(:? 'E as e) -> e
    | other -> wrongOrNone $"{typeof<'E>.Name} or a subtype" other

/// lo <= actual <= hi.
let within (lo: 'T) (hi: 'T) (actual: 'T) (message: string) =
    if not (lo <= actual && actual <= hi) then
        failtestf "%s: %A is outside [%A, %A]" message actual lo hi

/// For Expect.floatClose: equal to `places` decimal places, |actual - expected| <= 0.5 10^-places.
let digits (places: int) : Accuracy = { absolute = 0.5 * 10.0 ** float -places; relative = 0.0 }

/// Figures a test reports (timings, ratios), one line at a time even from parallel tests.
type Output() =
    member _.WriteLine(line: string) = lock Console.Out (fun () -> Console.Out.WriteLine line)

let output = Output()

let private made = ConcurrentBag<IDisposable>()

/// A value made on first use and shared by the tests that need it; disposed once all have run.
let shared (create: unit -> 'T) : Lazy<'T> when 'T :> IDisposable =
    lazy
        (let value = create ()
         made.Add value
         value)

/// Disposes every shared value that was made.
let disposeShared () =
    for value in made do
        value.Dispose()

/// Runs a test written as a task (Playwright's API is asynchronous) to its end; its failure is the test's.
let wait (work: Threading.Tasks.Task) = work.GetAwaiter().GetResult()
