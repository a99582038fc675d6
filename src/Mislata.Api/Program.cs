return await Mislata.Api.ApiHost.RunAsync(args);
