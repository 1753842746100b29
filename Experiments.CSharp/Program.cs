Console.WriteLine("research");
