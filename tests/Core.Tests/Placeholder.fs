module Research.Core.Tests.Placeholder
