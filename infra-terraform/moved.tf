#--------------------------------------------------------------------------------------------
# Former addresses. The four IRSA roles used to be one module call and one policy each
# (module.finetune_irsa, aws_iam_policy.finetune, ...); they are now one for_each over
# local.irsa_roles (irsa.tf). These blocks let an existing state move to the new addresses
# instead of destroying and recreating the roles and policies. Keep them while any state may
# still hold the old addresses.
#--------------------------------------------------------------------------------------------
moved {
  from = module.finetune_irsa
  to   = module.irsa["finetune"]
}

moved {
  from = module.inference_irsa
  to   = module.irsa["inference"]
}

moved {
  from = module.catalog_restore_irsa
  to   = module.irsa["catalog_restore"]
}

moved {
  from = module.notebooks_irsa
  to   = module.irsa["notebooks"]
}

moved {
  from = aws_iam_policy.finetune
  to   = aws_iam_policy.irsa["finetune"]
}

moved {
  from = aws_iam_policy.inference
  to   = aws_iam_policy.irsa["inference"]
}

moved {
  from = aws_iam_policy.catalog_restore
  to   = aws_iam_policy.irsa["catalog_restore"]
}

moved {
  from = aws_iam_policy.notebooks
  to   = aws_iam_policy.irsa["notebooks"]
}
