module Research.Analysis.Tests.Placeholder
