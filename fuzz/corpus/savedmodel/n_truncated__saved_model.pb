Å
"serveı

xPlaceholder
$
wVarHandleOp*
shared_namew

rReadVariableOpw

yMatMulxr

saver_filenamePlaceholder

saveSaveV2saver_filename
$
restore	RestoreV2saver_filename
+
mergeMergeV2Checkpointssaver_fil