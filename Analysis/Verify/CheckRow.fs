namespace Research.Analysis.Verify

/// How a row's numerical value must relate to its analytic (or reference) value.
type Relation =
    /// |numerical - analytic| <= tolerance
    | Equal
    /// numerical <= analytic + tolerance (e.g. a lower bound stays below what it bounds)
    | AtMost
    /// numerical >= analytic - tolerance
    | AtLeast

    member this.Symbol =
        match this with
        | Equal -> "="
        | AtMost -> "<="
        | AtLeast -> ">="

/// One numerical check of a derivation: what is checked, the analytic (closed-form or reference)
/// value, the numerical value (quadrature or Monte Carlo), the tolerance, and the verdict.
type CheckRow =
    { Group: string
      Check: string
      Analytic: float
      Numerical: float
      Relation: Relation
      Tolerance: float
      Passed: bool }

module CheckRow =
    /// NaN anywhere fails (every comparison with NaN is false).
    let create group check relation (analytic: float) (numerical: float) (tolerance: float) =
        let passed =
            match relation with
            | Equal -> abs (numerical - analytic) <= tolerance
            | AtMost -> numerical <= analytic + tolerance
            | AtLeast -> numerical >= analytic - tolerance
        { Group = group
          Check = check
          Analytic = analytic
          Numerical = numerical
          Relation = relation
          Tolerance = tolerance
          Passed = passed }

    let equal group check analytic numerical tolerance = create group check Equal analytic numerical tolerance
    let atMost group check analytic numerical tolerance = create group check AtMost analytic numerical tolerance
    let atLeast group check analytic numerical tolerance = create group check AtLeast analytic numerical tolerance
