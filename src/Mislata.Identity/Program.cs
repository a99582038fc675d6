return await Mislata.Identity.IdentityHost.RunAsync(args);
